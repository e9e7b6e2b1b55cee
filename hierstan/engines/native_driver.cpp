// hierstan's driver of Stan's own services, linked with one stanc-generated model.
//
//   <exe> sample <data.json> <out dir> <chains> <threads> <seed> <warmup> <draws>
//         <adapt_delta> <max_depth> <refresh> <adaptation> <metric>
//   <exe> gradient <data.json> <seed> <evaluations>
//   <exe> log_density <data.json> <point.json>...
//   <exe> log_density_gradient <data.json> <points.json>
//   <exe> check_data <data.json>
//
// sample runs all chains in this process on TBB threads, with chain ids 1..N as CmdStan does.
// <adaptation> "stan" runs Stan's own service (hmc_nuts_diag_e_adapt), so the same seed gives
// CmdStan's draws; "hierstan" runs hierstan's warmup (native_adaptation.hpp) over the same NUTS
// sampler class, then samples with the adapted step size and metric. <metric> is "diag", or
// "low_rank" (hierstan's warmup only: the diagonal plus the directions in which the draws and
// gradients say the posterior is correlated). It writes into <out dir>:
//   variables.tsv      name <tab> dims (comma separated) per model variable, in output order
//   columns.txt        the flat column names of one draw
//   chain-<i>.bin      float64 rows, one per post-warmup draw, appended as the chain runs
//   adapt-<i>.bin      step size followed by the diagonal of the inverse metric (float64)
//   warmup-<i>.tsv     the warmup's iterations, gradients and seconds
//   stan.log           Stan's messages (rejections, gradient timing) for hierstan to summarise
// gradient prints the mean time of one log-density gradient at Stan's random initial point;
// log_density prints, per point (constrained values as JSON), the log density without the
// Jacobian and up to a constant (Stan's `~`), for comparing programs at the same values;
// log_density_gradient prints, per unconstrained point (a JSON {"points": [[...], ...]}), the
// full log density with the Jacobian, constants included, then its gradient, on one line: two
// programs with the same parameters must agree there to rounding. check_data only constructs
// the model from the data, so Stan's own checks of the data block's declared constraints run,
// and prints the number of parameters: it tests prepared data without sampling.
// Progress lines ("Chain [i] Iteration: ...") go to stdout; a fatal error goes to stderr.
// The driver stops if its stdin closes (the calling Python process died) and then deletes
// <out dir>, so a killed caller leaves neither a process nor half-written files behind.

#include <stan/callbacks/interrupt.hpp>
#include <stan/callbacks/logger.hpp>
#include <stan/callbacks/structured_writer.hpp>
#include <stan/callbacks/writer.hpp>
#include <stan/io/empty_var_context.hpp>
#include <stan/io/json/json_data.hpp>
#include <stan/model/log_prob_grad.hpp>
#include <stan/model/log_prob_propto.hpp>
#include <stan/model/model_base.hpp>
#include <stan/services/sample/hmc_nuts_diag_e.hpp>
#include <stan/services/sample/hmc_nuts_diag_e_adapt.hpp>
#include <stan/services/util/create_rng.hpp>
#include <stan/services/util/create_unit_e_diag_inv_metric.hpp>
#include <stan/services/util/initialize.hpp>
#include <stan/math/prim/core/init_threadpool_tbb.hpp>
#include <stan/services/util/mcmc_writer.hpp>
#include <tbb/parallel_for.h>

#include "native_adaptation.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// defined by the stanc-generated code of the program this driver is linked with
stan::model::model_base& new_model(stan::io::var_context& data_context, unsigned int seed,
                                   std::ostream* msg_stream);

namespace {

std::filesystem::path out_dir;

// Watches stdin: the caller holds its write end open for the whole run and never writes, so
// end-of-file means the caller is gone.
void exit_when_orphaned() {
  std::thread([] {
    char byte;
    while (read(0, &byte, 1) > 0) {
    }
    std::error_code ignored;
    if (!out_dir.empty()) std::filesystem::remove_all(out_dir, ignored);
    _exit(3);
  }).detach();
}

class log_to_file : public stan::callbacks::logger {
 public:
  explicit log_to_file(const std::filesystem::path& path) : file_(path) {}
  void debug(const std::string& m) override { write("debug", m); }
  void debug(const std::stringstream& m) override { write("debug", m.str()); }
  void info(const std::string& m) override { info_line(m); }
  void info(const std::stringstream& m) override { info_line(m.str()); }
  void warn(const std::string& m) override { write("warn", m); }
  void warn(const std::stringstream& m) override { write("warn", m.str()); }
  void error(const std::string& m) override { error_line(m); }
  void error(const std::stringstream& m) override { error_line(m.str()); }
  void fatal(const std::string& m) override { write("fatal", m); }
  void fatal(const std::stringstream& m) override { write("fatal", m.str()); }

 private:
  void info_line(const std::string& m) {
    if (m.find("Iteration:") != std::string::npos) {
      std::lock_guard<std::mutex> hold(lock_);
      std::cout << m << std::endl;  // flushed: the caller draws progress bars from these
    } else {
      write("info", m);
    }
  }
  // A rejected proposal arrives as five error-level lines, the first "Informational Message";
  // they are logged as "reject" so that real errors stand out (each chain is one thread).
  void error_line(const std::string& m) {
    static thread_local int rejection_lines = 0;
    if (m.rfind("Informational Message", 0) == 0) rejection_lines = 5;
    write(rejection_lines > 0 ? "reject" : "error", m);
    if (rejection_lines > 0) --rejection_lines;
  }
  void write(const char* level, const std::string& m) {
    if (m.empty()) return;
    std::lock_guard<std::mutex> hold(lock_);
    file_ << level << '\t' << m << '\n';
    file_.flush();
  }
  std::mutex lock_;
  std::ofstream file_;
};

// One chain's draws: the column names once, then one binary row per draw.
class binary_rows : public stan::callbacks::writer {
 public:
  binary_rows(const std::filesystem::path& rows, const std::filesystem::path& names)
      : path_(rows), names_path_(names), file_(std::fopen(rows.c_str(), "wb")) {
    if (!file_) failed();
  }
  binary_rows(binary_rows&& other) noexcept
      : path_(std::move(other.path_)), names_path_(std::move(other.names_path_)),
        file_(other.file_), rows_(other.rows_), first_row_(other.first_row_) {
    other.file_ = nullptr;
  }
  ~binary_rows() override {
    if (file_) std::fclose(file_);
  }
  void operator()(const std::vector<std::string>& names) override {
    if (names_path_.empty()) return;  // every chain has the same columns; the first writes them
    std::ofstream out(names_path_);
    for (const auto& name : names) out << name << '\n';
  }
  void operator()(const std::vector<double>& row) override {
    if (rows_++ == 0) first_row_ = std::chrono::steady_clock::now();
    if (std::fwrite(row.data(), sizeof(double), row.size(), file_) != row.size()) failed();
  }
  // the rows still buffered reach the disk, or the run fails saying why (a full disk)
  void finish() {
    if (std::fflush(file_) != 0) failed();
  }
  // when the first draw after warmup arrived: the warmup's end under Stan's own service
  std::chrono::steady_clock::time_point first_row() const { return first_row_; }
  void operator()(const std::string&) override {}
  void operator()() override {}

 private:
  [[noreturn]] void failed() const {
    throw std::runtime_error("cannot write " + path_.string() + ": " + std::strerror(errno));
  }
  std::filesystem::path path_;
  std::filesystem::path names_path_;
  std::FILE* file_;
  long rows_ = 0;
  std::chrono::steady_clock::time_point first_row_;
};

void write_adaptation(const std::filesystem::path& path, double stepsize,
                      const Eigen::VectorXd& inv_metric) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&stepsize), sizeof(double));
  out.write(reinterpret_cast<const char*>(inv_metric.data()), inv_metric.size() * sizeof(double));
}

void write_warmup(const std::filesystem::path& path, int iterations, long gradients,
                  double seconds) {
  std::ofstream out(path);
  out << "iterations\t" << iterations << "\ngradients\t" << gradients << "\nseconds\t" << seconds
      << '\n';
}

// Stan's service reports the adapted step size and metric through this writer.
class adaptation : public stan::callbacks::structured_writer {
 public:
  explicit adaptation(std::filesystem::path path) : path_(std::move(path)) {}
  void write(const std::string& key, double value) override {
    if (key == "stepsize") stepsize_ = value;
  }
  void write(const std::string& key, const Eigen::VectorXd& values) override {
    if (key == "inv_metric") write_adaptation(path_, stepsize_, values);
  }

 private:
  std::filesystem::path path_;
  double stepsize_ = 0;
};

void write_variables(const stan::model::model_base& model) {
  std::vector<std::string> names;
  std::vector<std::vector<size_t>> dims;
  model.get_param_names(names, true, true);
  model.get_dims(dims, true, true);
  std::ofstream out(out_dir / "variables.tsv");
  for (size_t i = 0; i < names.size(); ++i) {
    out << names[i] << '\t';
    for (size_t j = 0; j < dims[i].size(); ++j) out << (j ? "," : "") << dims[i][j];
    out << '\n';
  }
}

std::unique_ptr<stan::io::var_context> read_data(const char* path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(std::string("cannot read ") + path);
  return std::make_unique<stan::json::json_data>(in);
}

// Progress lines as Stan's services print them, which the caller parses for its bars.
void report_progress(size_t chain, int iteration, int total, bool warmup, int refresh) {
  if (refresh <= 0 || !(iteration == 1 || iteration == total || iteration % refresh == 0)) return;
  static std::mutex lock;
  std::lock_guard<std::mutex> hold(lock);
  std::cout << "Chain [" << chain << "] Iteration: " << iteration << " / " << total
            << (warmup ? " (Warmup)" : " (Sampling)") << std::endl;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

using diag_sampler = stan::mcmc::diag_e_nuts<stan::model::model_base, stan::rng_t>;
using low_rank_sampler = hierstan::low_rank_nuts<stan::model::model_base, stan::rng_t>;
constexpr int LOW_RANK = 10;  // at most this many correlated directions

// One chain under hierstan's warmup: Stan's initialisation and NUTS class, our adaptation, then
// the draws through Stan's own writer (the same columns and generated quantities as the service).
template <class Sampler>
void hierstan_chain(stan::model::model_base& model, size_t chain, unsigned int seed, int warmup,
                    int draws, double delta, int max_depth, int refresh, int rank,
                    stan::callbacks::logger& logger, binary_rows& rows) {
  stan::rng_t rng = stan::services::util::create_rng(seed, chain);
  stan::io::empty_var_context no_init;
  stan::callbacks::writer no_writer;
  std::vector<double> initial = stan::services::util::initialize(model, no_init, rng, 2, true,
                                                                 logger, no_writer);
  Sampler sampler(model, rng);
  sampler.set_max_depth(max_depth);
  sampler.set_stepsize_jitter(0);
  sampler.set_nominal_stepsize(1);  // what Stan's service samples with when there is no warmup
  Eigen::Map<Eigen::VectorXd> start(initial.data(), initial.size());
  stan::mcmc::sample draw(start, 0, 0);
  const int total = warmup + draws;

  const auto warm_start = std::chrono::steady_clock::now();
  hierstan::warmup_settings settings;
  settings.warmup = warmup;
  settings.delta = delta;
  settings.max_depth = max_depth;
  settings.rank = rank;
  auto result = hierstan::hierstan_warmup(sampler, draw, settings, logger, [&](int m) {
    report_progress(chain, m + 1, total, true, refresh);
  });
  write_warmup(out_dir / ("warmup-" + std::to_string(chain) + ".tsv"), result.iterations,
               result.gradients, seconds_since(warm_start));
  if (warmup > 0) {
    Eigen::VectorXd variances = sampler.z().inv_e_metric_;
    if constexpr (std::is_same_v<Sampler, low_rank_sampler>)
      variances = sampler.z().marginal_variances();
    write_adaptation(out_dir / ("adapt-" + std::to_string(chain) + ".bin"),
                     sampler.get_nominal_stepsize(), variances);
  }

  stan::callbacks::writer no_diagnostics;
  stan::services::util::mcmc_writer writer(rows, no_diagnostics, logger);
  writer.write_sample_names(draw, sampler, model);
  for (int m = 0; m < draws; ++m) {
    draw = sampler.transition(draw, logger);
    writer.write_sample_params(rng, draw, sampler, model);
    report_progress(chain, warmup + m + 1, total, false, refresh);
  }
}

int sample(char** argv) {
  auto data = read_data(argv[2]);
  out_dir = argv[3];
  const size_t chains = std::stoul(argv[4]);
  const int threads = std::stoi(argv[5]);
  const unsigned int seed = std::stoul(argv[6]);
  const int warmup = std::stoi(argv[7]), draws = std::stoi(argv[8]);
  const double delta = std::stod(argv[9]);
  const int max_depth = std::stoi(argv[10]), refresh = std::stoi(argv[11]);
  const std::string adaptation_kind = argv[12], metric = argv[13];
  if (adaptation_kind != "stan" && adaptation_kind != "hierstan")
    throw std::runtime_error("unknown adaptation " + adaptation_kind);
  if (metric != "diag" && (metric != "low_rank" || adaptation_kind != "hierstan"))
    throw std::runtime_error("unknown metric " + metric + " for adaptation " + adaptation_kind);
  exit_when_orphaned();
  stan::math::init_threadpool_tbb(threads);

  std::stringstream model_messages;
  stan::model::model_base& model = new_model(*data, seed, &model_messages);
  write_variables(model);

  log_to_file logger(out_dir / "stan.log");
  std::vector<binary_rows> sample_writers;
  for (size_t i = 1; i <= chains; ++i)
    sample_writers.emplace_back(out_dir / ("chain-" + std::to_string(i) + ".bin"),
                                i == 1 ? out_dir / "columns.txt" : std::filesystem::path());

  if (adaptation_kind == "hierstan") {
    tbb::parallel_for(tbb::blocked_range<size_t>(0, chains, 1),
                      [&](const tbb::blocked_range<size_t>& r) {
                        for (size_t i = r.begin(); i != r.end(); ++i) {
                          if (metric == "low_rank")
                            hierstan_chain<low_rank_sampler>(model, i + 1, seed, warmup, draws,
                                                             delta, max_depth, refresh, LOW_RANK,
                                                             logger, sample_writers[i]);
                          else
                            hierstan_chain<diag_sampler>(model, i + 1, seed, warmup, draws, delta,
                                                         max_depth, refresh, 0, logger,
                                                         sample_writers[i]);
                        }
                      },
                      tbb::simple_partitioner());
    for (auto& rows : sample_writers) rows.finish();
    return 0;
  }

  stan::callbacks::interrupt interrupt;  // Ctrl-C reaches the driver as a signal and ends it
  std::vector<std::shared_ptr<stan::io::var_context>> inits, metrics;
  std::vector<stan::callbacks::writer> init_writers(chains), diagnostic_writers(chains);
  std::vector<adaptation> metric_writers;
  for (size_t i = 1; i <= chains; ++i) {
    inits.push_back(std::make_shared<stan::io::empty_var_context>());
    metrics.push_back(std::make_shared<stan::io::array_var_context>(
        stan::services::util::create_unit_e_diag_inv_metric(model.num_params_r())));
    metric_writers.emplace_back(out_dir / ("adapt-" + std::to_string(i) + ".bin"));
  }
  const double init_radius = 2, stepsize = 1, jitter = 0;
  const auto start = std::chrono::steady_clock::now();
  int code;
  if (warmup > 0) {
    // CmdStan's defaults: gamma 0.05, kappa 0.75, t0 10, buffers 75 / 50, window 25
    code = stan::services::sample::hmc_nuts_diag_e_adapt(
        model, chains, inits, metrics, seed, 1, init_radius, warmup, draws, 1, false, refresh,
        stepsize, jitter, max_depth, delta, 0.05, 0.75, 10, 75, 50, 25, interrupt, logger,
        init_writers, sample_writers, diagnostic_writers, metric_writers);
  } else {
    code = stan::services::sample::hmc_nuts_diag_e(
        model, chains, inits, metrics, seed, 1, init_radius, warmup, draws, 1, false, refresh,
        stepsize, jitter, max_depth, interrupt, logger, init_writers, sample_writers,
        diagnostic_writers);
  }
  // the service does not count the warmup's gradients: only its duration is known
  for (size_t i = 0; i < chains; ++i)
    write_warmup(out_dir / ("warmup-" + std::to_string(i + 1) + ".tsv"), warmup, -1,
                 std::chrono::duration<double>(sample_writers[i].first_row() - start).count());
  for (auto& rows : sample_writers) rows.finish();
  return code;
}

// Mean wall time of one log density gradient at Stan's random initial point, for benchmarks.
int gradient(char** argv) {
  auto data = read_data(argv[2]);
  const unsigned int seed = std::stoul(argv[3]);
  const long evaluations = std::stol(argv[4]);
  std::stringstream model_messages;
  stan::model::model_base& model = new_model(*data, seed, &model_messages);
  stan::callbacks::logger quiet;
  stan::callbacks::writer no_inits;
  stan::io::empty_var_context no_init;
  auto rng = stan::services::util::create_rng(seed, 1);
  std::vector<double> point = stan::services::util::initialize(model, no_init, rng, 2, false,
                                                               quiet, no_inits);
  std::vector<int> ints;
  std::vector<double> grad;
  double total = 0;
  stan::model::log_prob_grad<true, true>(model, point, ints, grad);  // warm the caches
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < evaluations; ++i)
    total += stan::model::log_prob_grad<true, true>(model, point, ints, grad);
  std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - start;
  std::cout << "us_per_gradient\t" << took.count() / evaluations << "\n"
            << "parameters\t" << model.num_params_r() << "\n"
            << "log_density\t" << total / evaluations << std::endl;
  return 0;
}

int log_density(int argc, char** argv) {
  auto data = read_data(argv[2]);
  std::stringstream model_messages;
  stan::model::model_base& model = new_model(*data, 1, &model_messages);
  std::cout.precision(17);
  for (int i = 3; i < argc; ++i) {
    auto point = read_data(argv[i]);
    std::vector<int> ints;
    std::vector<double> unconstrained;
    model.transform_inits(*point, ints, unconstrained, &model_messages);
    std::cout << stan::model::log_prob_propto<false>(model, unconstrained, ints, &model_messages)
              << "\n";
  }
  std::cout << std::flush;
  return 0;
}

int log_density_gradient(char** argv) {
  auto data = read_data(argv[2]);
  auto points = read_data(argv[3]);
  std::stringstream model_messages;
  stan::model::model_base& model = new_model(*data, 1, &model_messages);
  const std::vector<double> flat = points->vals_r("points");
  const std::vector<size_t> dims = points->dims_r("points");
  const size_t n = model.num_params_r();
  if (dims.size() != 2 || dims[1] != n)
    throw std::runtime_error("points must be an array of points of " + std::to_string(n) +
                             " unconstrained values");
  std::cout.precision(17);
  for (size_t i = 0; i < dims[0]; ++i) {
    std::vector<double> point(n), grad;
    for (size_t j = 0; j < n; ++j) point[j] = flat[i + j * dims[0]];  // var_context: column-major
    std::vector<int> ints;
    double lp = stan::model::log_prob_grad<false, true>(model, point, ints, grad, &model_messages);
    std::cout << lp;
    for (double g : grad) std::cout << ' ' << g;
    std::cout << '\n';
  }
  std::cout << std::flush;
  return 0;
}

int check_data(char** argv) {
  auto data = read_data(argv[2]);
  std::stringstream model_messages;
  stan::model::model_base& model = new_model(*data, 1, &model_messages);
  std::cout << "parameters\t" << model.num_params_r() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "sample" && argc == 14) return sample(argv);
    if (mode == "gradient" && argc == 5) return gradient(argv);
    if (mode == "log_density" && argc >= 4) return log_density(argc, argv);
    if (mode == "log_density_gradient" && argc == 4) return log_density_gradient(argv);
    if (mode == "check_data" && argc == 3) return check_data(argv);
    std::cerr << "usage: see the comment at the top of native_driver.cpp" << std::endl;
    return 64;
  } catch (const std::exception& e) {
    std::cerr << e.what() << std::endl;
    return 70;
  }
}
