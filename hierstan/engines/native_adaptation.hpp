// hierstan's warmup for the native driver: NUTS from Stan's own stan::mcmc classes, with a
// diagonal metric adapted from draws and their gradients while the chain travels, then from
// the draws' variances.
//
// For a Gaussian target with standard deviations s_i, Var(x_i) = s_i^2 and Var(grad_i) = 1/s_i^2,
// so sqrt(Var(x_i) / Var(grad_i)) recovers s_i^2; for other targets it is the diagonal that
// minimises the Fisher divergence between the target and its affine transform (Seyboldt,
// Carlson & Carpenter). Every draw carries a gradient, so a handful of draws fix scales that
// variances need many more for: the early metric can be re-estimated from windows of ten draws.
// Measured here, the final metric is better taken from the draws' variances, as Stan does:
// with the Fisher diagonal to the end, the minimum bulk ESS of radon and exam fell by a third
// to a half (their scale parameters' gradients are heavy-tailed); during the early phase the
// Fisher diagonal is what makes the warmup short.
//
// The schedule over at most `warmup` iterations:
//   - the first metric is 1 / |gradient| at the initial point, the first step size Stan's
//     doubling heuristic;
//   - until the final window, every iteration's draw and gradient enter two running windows; the
//     metric is re-estimated from the older window at every iteration once it holds enough draws,
//     and every `early_switch` (then `late_switch`) iterations the older window is dropped and
//     the newer one takes its place, so the metric always rests on recent draws only. The early
//     phase (30% of the warmup, at most 150 iterations) uses the Fisher diagonal and switches
//     every 10 iterations; the late phase uses variances and switches every 80;
//   - the step size follows Nesterov dual averaging (Stan's stepsize_adaptation) all along,
//     restarted when the final window begins;
//   - the final window (15% of the warmup, at least 20 iterations) keeps the metric fixed and
//     tunes only the step size, which ends at dual averaging's averaged value;
//   - the warmup stops early once the metric has settled: when 90% of the log scales moved less
//     than 0.3 between two successive late windows, a final window of 50 iterations starts at
//     once. Measured here, the families settle at the first chance (360 iterations) or soon after,
//     with the same minimum bulk ESS as a full 1000-iteration warmup; SBC checks the result.
//   - metric "low_rank" adds, once a late window, up to 10 directions in which the draws and
//     gradients show the posterior correlated (moments::low_rank).

#ifndef HIERSTAN_NATIVE_ADAPTATION_HPP
#define HIERSTAN_NATIVE_ADAPTATION_HPP

#include <stan/callbacks/logger.hpp>
#include <stan/mcmc/hmc/nuts/diag_e_nuts.hpp>
#include <stan/mcmc/stepsize_adaptation.hpp>
#include <stan/mcmc/hmc/hamiltonians/base_hamiltonian.hpp>
#include <stan/mcmc/hmc/hamiltonians/ps_point.hpp>
#include <stan/mcmc/hmc/integrators/expl_leapfrog.hpp>
#include <stan/mcmc/hmc/nuts/base_nuts.hpp>
#include <boost/random/normal_distribution.hpp>
#include <boost/random/variate_generator.hpp>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>

#include <algorithm>
#include <type_traits>
#include <cmath>
#include <vector>

namespace hierstan {

// A metric whose inverse (the covariance it assumes) is a diagonal plus a low-rank correction:
//   Sigma = S (I + U diag(lambda - 1) U') S,   S = diag(sqrt(d)),  U orthonormal (n x k),
// so that correlated directions found in the draws and gradients get their own scale, at
// O(n k) per leapfrog step instead of a dense metric's O(n^2). With k = 0 it is the diagonal
// metric d.
class low_rank_point : public stan::mcmc::ps_point {
 public:
  explicit low_rank_point(int n)
      : ps_point(n), inv_e_metric_(Eigen::VectorXd::Ones(n)), sqrt_d_(Eigen::VectorXd::Ones(n)),
        U_(n, 0), lambda_(0) {}
  Eigen::VectorXd inv_e_metric_;  // d: what Stan's writers report
  Eigen::VectorXd sqrt_d_;
  Eigen::MatrixXd U_;
  Eigen::VectorXd lambda_;

  void set_metric(const Eigen::VectorXd& d) { set_metric(d, Eigen::MatrixXd(d.size(), 0), Eigen::VectorXd(0)); }
  void set_metric(const Eigen::VectorXd& d, const Eigen::MatrixXd& U, const Eigen::VectorXd& lambda) {
    inv_e_metric_ = d;
    sqrt_d_ = d.cwiseSqrt();
    U_ = U;
    lambda_ = lambda;
  }
  // the diagonal of Sigma: each coordinate's variance under the metric
  Eigen::VectorXd marginal_variances() const {
    Eigen::VectorXd extra = U_.cwiseAbs2() * (lambda_.array() - 1).matrix();
    return inv_e_metric_.cwiseProduct((Eigen::VectorXd::Ones(extra.size()) + extra));
  }
  void write_metric(stan::callbacks::writer& writer) override {
    writer("Low-rank metric: diagonal plus " + std::to_string(lambda_.size()) + " directions");
  }
  std::string metric_type() { return "low_rank"; }
};

template <class Model, class BaseRNG>
class low_rank_metric : public stan::mcmc::base_hamiltonian<Model, low_rank_point, BaseRNG> {
 public:
  explicit low_rank_metric(const Model& model)
      : stan::mcmc::base_hamiltonian<Model, low_rank_point, BaseRNG>(model) {}

  double T(low_rank_point& z) {
    const Eigen::VectorXd y = z.sqrt_d_.cwiseProduct(z.p);
    const Eigen::VectorXd u = z.U_.transpose() * y;
    return 0.5 * (y.squaredNorm() + u.dot((z.lambda_.array() - 1).matrix().cwiseProduct(u)));
  }
  double tau(low_rank_point& z) { return T(z); }
  double phi(low_rank_point& z) { return this->V(z); }
  double dG_dt(low_rank_point& z, stan::callbacks::logger& logger) {
    return 2 * T(z) - z.q.dot(z.g);
  }
  Eigen::VectorXd dtau_dq(low_rank_point& z, stan::callbacks::logger& logger) {
    return Eigen::VectorXd::Zero(this->model_.num_params_r());
  }
  Eigen::VectorXd dtau_dp(low_rank_point& z) {
    const Eigen::VectorXd y = z.sqrt_d_.cwiseProduct(z.p);
    const Eigen::VectorXd u = z.U_.transpose() * y;
    return z.sqrt_d_.cwiseProduct(y + z.U_ * (z.lambda_.array() - 1).matrix().cwiseProduct(u));
  }
  Eigen::VectorXd dphi_dq(low_rank_point& z, stan::callbacks::logger& logger) { return z.g; }
  // p ~ N(0, Sigma^-1): S^-1 (xi + U diag(lambda^-1/2 - 1) U' xi), xi standard normal
  void sample_p(low_rank_point& z, BaseRNG& rng) {
    boost::variate_generator<BaseRNG&, boost::normal_distribution<> > normal(
        rng, boost::normal_distribution<>());
    Eigen::VectorXd xi(z.p.size());
    for (int i = 0; i < xi.size(); ++i) xi(i) = normal();
    const Eigen::VectorXd u = z.U_.transpose() * xi;
    const Eigen::VectorXd c = z.lambda_.array().rsqrt() - 1;
    z.p = (xi + z.U_ * c.cwiseProduct(u)).cwiseQuotient(z.sqrt_d_);
  }
};

template <class Model, class BaseRNG>
class low_rank_nuts
    : public stan::mcmc::base_nuts<Model, low_rank_metric, stan::mcmc::expl_leapfrog, BaseRNG> {
 public:
  low_rank_nuts(const Model& model, BaseRNG& rng)
      : stan::mcmc::base_nuts<Model, low_rank_metric, stan::mcmc::expl_leapfrog, BaseRNG>(model,
                                                                                       rng) {}
};

// Dual averaging as Stan implements it, with the averaged log step size readable mid-way.
class stepsize_tuner : public stan::mcmc::stepsize_adaptation {
 public:
  double averaged() const { return std::exp(x_bar_); }
};

// Running mean and sum of squared deviations of draws and of gradients (Welford).
// With `keep`, the draws and gradients themselves too (for the low-rank directions).
class moments {
 public:
  moments(int n, bool keep) : keep_(keep), mean_x_(Eigen::VectorXd::Zero(n)), m2_x_(Eigen::VectorXd::Zero(n)),
                              mean_g_(Eigen::VectorXd::Zero(n)), m2_g_(Eigen::VectorXd::Zero(n)) {}
  void add(const Eigen::VectorXd& x, const Eigen::VectorXd& g) {
    if (keep_) {
      xs_.push_back(x);
      gs_.push_back(g);
    }
    ++count_;
    Eigen::VectorXd dx = x - mean_x_, dg = g - mean_g_;
    mean_x_ += dx / count_;
    mean_g_ += dg / count_;
    m2_x_ += dx.cwiseProduct(x - mean_x_);
    m2_g_ += dg.cwiseProduct(g - mean_g_);
  }
  int count() const { return count_; }
  void clear() {
    xs_.clear();
    gs_.clear();
    count_ = 0;
    mean_x_.setZero(); m2_x_.setZero(); mean_g_.setZero(); m2_g_.setZero();
  }
  // sqrt(Var(x) / Var(g)), element by element; where a window cannot tell (no spread in the
  // draws, e.g. every proposal rejected, or none in the gradients), the previous value stays
  void fisher_diagonal(Eigen::VectorXd& inv_metric) const {
    for (int i = 0; i < inv_metric.size(); ++i) {
      const double vx = m2_x_(i), vg = m2_g_(i);
      if (vx > 0 && vg > 0 && std::isfinite(vx) && std::isfinite(vg))
        inv_metric(i) = std::clamp(std::sqrt(vx / vg), 1e-10, 1e10);
    }
  }
  // Var(x), shrunk a little towards the Fisher diagonal (Stan shrinks towards 1e-3, which
  // swamps scales below 0.01): with few draws the gradients still pin the scale
  void variance_diagonal(Eigen::VectorXd& inv_metric) const {
    Eigen::VectorXd fisher = inv_metric;
    fisher_diagonal(fisher);
    const double n = count_;
    for (int i = 0; i < inv_metric.size(); ++i) {
      const double v = m2_x_(i) / (n - 1);
      if (v > 0 && std::isfinite(v))
        inv_metric(i) = std::clamp((n * v + 5 * fisher(i)) / (n + 5), 1e-10, 1e10);
    }
  }

  // Directions in which the draws' spread departs from the diagonal d by more than a factor
  // `cutoff`, at most `rank` of them, with their variances (in units of d). Candidates are the
  // leading directions of the scaled draws (wide) and of the scaled gradients (narrow); in the
  // space they span, the covariance that minimises the Fisher divergence is the geometric mean
  // of the draws' covariance and the inverse of the gradients' (Seyboldt, Carlson & Carpenter).
  void low_rank(const Eigen::VectorXd& d, int rank, double cutoff, Eigen::MatrixXd& U,
                Eigen::VectorXd& lambda) const {
    const int n = d.size(), draws = static_cast<int>(xs_.size());
    U.resize(n, 0);
    lambda.resize(0);
    if (rank <= 0 || draws < 10) return;
    const Eigen::VectorXd s = d.cwiseSqrt();
    Eigen::MatrixXd X(n, draws), G(n, draws);
    for (int j = 0; j < draws; ++j) {
      X.col(j) = (xs_[j] - mean_x_).cwiseQuotient(s);
      G.col(j) = (gs_[j] - mean_g_).cwiseProduct(s);
    }
    const int k = std::min({rank, n, draws - 1});
    Eigen::BDCSVD<Eigen::MatrixXd> sx(X, Eigen::ComputeThinU), sg(G, Eigen::ComputeThinU);
    Eigen::MatrixXd candidates(n, 2 * k);
    candidates << sx.matrixU().leftCols(k), sg.matrixU().leftCols(k);
    Eigen::HouseholderQR<Eigen::MatrixXd> qr(candidates);
    const int m = std::min(n, 2 * k);
    const Eigen::MatrixXd Q = qr.householderQ() * Eigen::MatrixXd::Identity(n, m);
    const Eigen::MatrixXd Xq = Q.transpose() * X, Gq = Q.transpose() * G;
    // a little shrinkage towards the diagonal's identity keeps both covariances invertible
    const double w = 5.0 / (draws + 5.0);
    const Eigen::MatrixXd I = Eigen::MatrixXd::Identity(m, m);
    const Eigen::MatrixXd cx = (1 - w) * (Xq * Xq.transpose()) / (draws - 1) + w * I;
    const Eigen::MatrixXd cg = (1 - w) * (Gq * Gq.transpose()) / (draws - 1) + w * I;
    // geometric mean of cx and cg^-1: cg^-1/2 (cg^1/2 cx cg^1/2)^1/2 cg^-1/2
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eg(cg);
    const Eigen::MatrixXd root = eg.operatorSqrt(), inv_root = eg.operatorInverseSqrt();
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> middle(root * cx * root);
    const Eigen::MatrixXd sigma = inv_root * middle.operatorSqrt() * inv_root;
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(sigma);
    std::vector<int> keep;
    for (int i = 0; i < m; ++i) {
      const double value = es.eigenvalues()(i);
      if (value > cutoff || value < 1 / cutoff) keep.push_back(i);
    }
    std::sort(keep.begin(), keep.end(), [&](int a, int b) {
      return std::abs(std::log(es.eigenvalues()(a))) > std::abs(std::log(es.eigenvalues()(b)));
    });
    if (static_cast<int>(keep.size()) > rank) keep.resize(rank);
    U.resize(n, keep.size());
    lambda.resize(keep.size());
    for (size_t i = 0; i < keep.size(); ++i) {
      U.col(i) = Q * es.eigenvectors().col(keep[i]);
      lambda(i) = es.eigenvalues()(keep[i]);
    }
  }

 private:
  bool keep_;
  std::vector<Eigen::VectorXd> xs_, gs_;
  int count_ = 0;
  Eigen::VectorXd mean_x_, m2_x_, mean_g_, m2_g_;
};

struct warmup_settings {
  int warmup = 1000;
  double delta = 0.8;
  int max_depth = 10;
  int early_switch = 10;   // window length while the chain is still finding the typical set
  double early_share = 0.3;  // ... for this share of the warmup
  int late_switch = 80;    // window length after that
  double final_share = 0.15;
  int final_min = 20;
  int min_window = 5;      // draws a window needs before it sets the metric
  int early_max = 150;     // ... but no longer than this many iterations
  // the warmup ends early (final window of `settled_final`) once two successive late windows'
  // metrics agree: 90% of the log scales moved less than `settle_tolerance`; 0 turns it off
  double settle_tolerance = 0.3;
  int settled_final = 50;
  int rank = 0;            // low-rank directions added to the late diagonal (0: diagonal only)
  double cutoff = 2;       // ... where the spread departs from the diagonal's by this factor
};

struct warmup_result {
  int iterations = 0;
  long gradients = 0;
  bool settled = false;
  double stepsize = 0;
};

// Whether 90% of the log scales moved less than `tolerance` between two estimates.
inline bool settled(const Eigen::VectorXd& now, const Eigen::VectorXd& before, double tolerance) {
  std::vector<double> moves(now.size());
  for (int i = 0; i < now.size(); ++i) moves[i] = std::abs(std::log(now(i) / before(i)));
  const size_t at = static_cast<size_t>(0.9 * (moves.size() - 1));
  std::nth_element(moves.begin(), moves.begin() + at, moves.end());
  return moves[at] < tolerance;
}

template <class Sampler>
void set_low_rank(Sampler& sampler, const Eigen::VectorXd& d, const Eigen::MatrixXd& U,
                  const Eigen::VectorXd& lambda) {
  if constexpr (std::is_same_v<std::decay_t<decltype(sampler.z())>, low_rank_point>)
    sampler.z().set_metric(d, U, lambda);
  else
    sampler.set_metric(d);
}

// Runs the warmup on `sampler` from `sample` (updated in place); `progress(m)` is called after
// iteration m (0-based). The sampler must hold its initial point (z().q) already.
template <class Sampler, class Progress>
warmup_result hierstan_warmup(Sampler& sampler, stan::mcmc::sample& sample,
                              const warmup_settings& settings, stan::callbacks::logger& logger,
                              Progress&& progress) {
  warmup_result result;
  const int n = sampler.z().q.size();
  if (settings.warmup <= 0) return result;

  // first metric: the scale of the gradient at the initial point (the point's V and g exist
  // once the Hamiltonian is initialised)
  sampler.z().q = sample.cont_params();
  sampler.init_hamiltonian(logger);
  Eigen::VectorXd inv_metric = Eigen::VectorXd::Ones(n);
  for (int i = 0; i < n; ++i) {
    const double g = std::abs(sampler.z().g(i));
    if (std::isfinite(g) && g > 0) inv_metric(i) = std::clamp(1 / g, 1e-10, 1e10);
  }
  sampler.set_metric(inv_metric);
  sampler.set_nominal_stepsize(1);
  sampler.init_stepsize(logger);

  stepsize_tuner tuner;
  tuner.set_delta(settings.delta);
  tuner.set_mu(std::log(10 * sampler.get_nominal_stepsize()));
  tuner.restart();

  int final_length = std::min(settings.warmup,
      std::max(settings.final_min, static_cast<int>(std::lround(settings.final_share * settings.warmup))));
  const int early_end = std::min(settings.early_max,
                                 static_cast<int>(std::lround(settings.early_share * settings.warmup)));
  int final_start = settings.warmup - final_length;
  Eigen::VectorXd last_late;  // the metric at the previous late switch
  const bool low_rank = settings.rank > 0;
  moments older(n, low_rank), newer(n, low_rank);
  Eigen::MatrixXd U;
  Eigen::VectorXd lambda;
  int since_switch = 0;
  std::vector<double> stats;

  for (int m = 0; m < final_start + final_length; ++m) {
    if (m == final_start) {  // metric fixed from here: tune the step size to it afresh
      tuner.set_mu(std::log(10 * sampler.get_nominal_stepsize()));
      tuner.restart();
    }
    sample = sampler.transition(sample, logger);
    stats.clear();
    sampler.get_sampler_params(stats);  // stepsize, treedepth, n_leapfrog, divergent, energy
    result.gradients += static_cast<long>(stats[2]);
    double epsilon = sampler.get_nominal_stepsize();
    tuner.learn_stepsize(epsilon, sample.accept_stat());
    sampler.set_nominal_stepsize(epsilon);
    progress(m);
    ++result.iterations;
    if (m >= final_start) continue;

    // the draw's gradient of the log density is minus the potential's
    const Eigen::VectorXd grad = -sampler.z().g;
    older.add(sample.cont_params(), grad);
    newer.add(sample.cont_params(), grad);
    const int window = m < early_end ? settings.early_switch : settings.late_switch;
    const bool switching = ++since_switch >= window;
    if (older.count() >= settings.min_window) {
      if (m < early_end) {
        older.fisher_diagonal(inv_metric);
        sampler.set_metric(inv_metric);
      } else if (!low_rank) {
        older.variance_diagonal(inv_metric);
        sampler.set_metric(inv_metric);
      } else if (switching) {  // the low-rank directions cost an SVD: once a window
        older.variance_diagonal(inv_metric);
        older.low_rank(inv_metric, settings.rank, settings.cutoff, U, lambda);
        set_low_rank(sampler, inv_metric, U, lambda);
      }
    }
    if (switching && m >= early_end && settings.settle_tolerance > 0) {
      if (last_late.size() == n && settled(inv_metric, last_late, settings.settle_tolerance)
          && m + 1 + settings.settled_final < final_start) {
        final_start = m + 1;
        final_length = settings.settled_final;
        result.settled = true;
      }
      last_late = inv_metric;
    }
    if (switching) {
      std::swap(older, newer);
      newer.clear();
      since_switch = 0;
    }
  }
  double final_epsilon = sampler.get_nominal_stepsize();
  tuner.complete_adaptation(final_epsilon);
  sampler.set_nominal_stepsize(final_epsilon);
  result.stepsize = final_epsilon;
  return result;
}

}  // namespace hierstan

#endif
