// Math test scores, hierarchical normal (docs/models.md §6):
// y_ij ~ normal(theta_i, sigma^2), theta_i ~ normal(mu, tau^2 sigma^2), with the precisions
// lambda = 1/sigma^2 and omega = 1/tau^2 as parameters (their priors are the contract's gammas).
// Parameterization, school by school by the data flag `centered`:
// - centered (the default for the posterior): each school has 4 to 32 students, so the data pin
//   theta_i far more tightly than the population does (n_i against omega ~ 4), there is no funnel,
//   and the non-centered form would instead tie z_theta to mu (its ESS drops tenfold);
// - non-centered, theta = mu + z_theta / sqrt(omega lambda): for schools with very few students,
//   and always for prior draws (prior_only = 1 makes every school non-centered), where nothing
//   pins theta and the centered form is a funnel.
functions {
#include functions/centering.stan
}
data {
  // students: math score and school
  int<lower=1> N;
  int<lower=1> J;
  vector[N] y;
  array[N] int<lower=1, upper=J> school;
  // per-school sufficient statistics of the scores: count, sum, and sum of squared deviations
  // from the school mean (exact, and better conditioned than the raw sum of squares)
  array[J] int<lower=1> school_n;
  vector[J] school_sum;
  vector<lower=0>[J] school_ss;
  // priors: lambda ~ gamma(a, b), omega ~ gamma(c, d) (shape, rate), mu ~ normal(nu, phi^-1/2)
  real<lower=0> a;
  real<lower=0> b;
  real<lower=0> c;
  real<lower=0> d;
  real nu;
  real<lower=0> phi;
  // per school: 1 = sample theta_i itself, 0 = its standardised deviation (ignored when
  // prior_only = 1)
  array[J] int<lower=0, upper=1> centered;
  // 1 = generate per-student log_lik and y_rep, 0 = skip them
  int<lower=0, upper=1> pointwise;
  // 1 = ignore the likelihood (prior and prior-predictive draws)
  int<lower=0, upper=1> prior_only;
}
transformed data {
  // school means and the pooled within-school sum of squares: with them the likelihood of all
  // N students costs O(J) per gradient
  vector[J] n = to_vector(school_n);
  vector[J] ybar = school_sum ./ n;
  real within_ss = sum(school_ss);
  // schools whose theta is sampled itself (c_idx) and non-centered (nc_idx)
  array[J] int sample_theta = prior_only ? rep_array(0, J) : centered;
  array[sum(sample_theta)] int c_idx = which_equal(sample_theta, 1);
  array[J - sum(sample_theta)] int nc_idx = which_equal(sample_theta, 0);
}
parameters {
  real mu;
  // within-school precision 1/sigma^2 and the precision ratio 1/tau^2
  real<lower=0> lambda;
  real<lower=0> omega;
  // school i's theta itself where centered[i] = 1 (and prior_only = 0), its standardised deviate
  // otherwise
  vector[J] z_theta;
}
transformed parameters {
  // school means; their population variance is tau^2 sigma^2, i.e. precision omega * lambda
  vector[J] theta;
  theta[c_idx] = z_theta[c_idx];
  theta[nc_idx] = mu + inv_sqrt(omega * lambda) * z_theta[nc_idx];
}
model {
  // population of school means
  // an empty set still checks its scale, which can underflow to 0 in warmup
  if (size(c_idx) > 0) z_theta[c_idx] ~ normal(mu, inv_sqrt(omega * lambda));
  z_theta[nc_idx] ~ std_normal();
  // hyperpriors
  lambda ~ gamma(a, b);
  omega ~ gamma(c, d);
  mu ~ normal(nu, inv_sqrt(phi));
  // scores: sum_ij normal_lpdf(y_ij | theta_i, sigma) through the identity
  // sum_j (y_ij - theta_i)^2 = school_ss_i + n_i (ybar_i - theta_i)^2 (constant included, so the
  // target's likelihood equals the sum of the per-student log_lik)
  if (!prior_only) {
    target += 0.5 * N * (log(lambda) - log(2 * pi()))
              - 0.5 * lambda * (within_ss + dot_product(n, square(ybar - theta)));
  }
}
generated quantities {
  // the variances of docs/models.md: within-school sigma^2, and tau^2 (the between-school variance
  // as a multiple of sigma^2)
  real sigma2 = inv(lambda);
  real tau2 = inv(omega);
  // per-student log-likelihood (PSIS-LOO) and replicated scores; pointwise = 0 leaves them empty
  // (writing 2 N values per draw costs several times the sampling itself)
  vector[pointwise ? N : 0] log_lik;
  vector[pointwise ? N : 0] y_rep;
  if (pointwise) {
    vector[N] theta_student = theta[school];
    real sigma = inv_sqrt(lambda);
    for (i in 1:N) {
      log_lik[i] = normal_lpdf(y[i] | theta_student[i], sigma);
    }
    y_rep = to_vector(normal_rng(theta_student, sigma));
  }
}
