// Minnesota radon, varying intercept and slope (docs/models.md §2); each county's intercept and
// slope centered or non-centered through the data flags `centered` and `centered_slope`.
functions {
#include functions/centering.stan
}
data {
#include data/radon.stan
  // per county: 1 = sample its intercept (slope) itself (centered), 0 = its standardised
  // deviation; apart, as a county's rows can pin its intercept but say little about its slope
  array[J] int<lower=0, upper=1> centered;
  array[J] int<lower=0, upper=1> centered_slope;
}
transformed data {
#include transformed_data/centering.stan
  array[sum(centered_slope)] int c_slope = which_equal(centered_slope, 1);
  array[J - sum(centered_slope)] int nc_slope = which_equal(centered_slope, 0);
}
parameters {
  real<lower=0> sigma_y;
  real mu_alpha;
  real<lower=0> sigma_alpha;
  real mu_beta;
  real<lower=0> sigma_beta;
  // county j's intercept (slope) itself where centered[j] = 1 (centered_slope[j] = 1), its
  // standardised deviate otherwise
  vector[J] z_alpha;
  vector[J] z_beta;
}
transformed parameters {
  // county intercepts and slopes
  vector[J] alpha;
  vector[J] beta;
  alpha[c_idx] = z_alpha[c_idx];
  beta[c_slope] = z_beta[c_slope];
  alpha[nc_idx] = mu_alpha + sigma_alpha * z_alpha[nc_idx];
  beta[nc_slope] = mu_beta + sigma_beta * z_beta[nc_slope];
}
model {
#include model/radon_priors.stan
#include model/radon_priors_intercept_mean.stan
#include model/radon_priors_intercept_scale.stan
  mu_beta ~ normal(0, coef_scale);
  sigma_beta ~ cauchy(0, hyper_scale);
  // county intercepts and slopes
  // an empty set still checks its scale, which can underflow to 0 in warmup
  if (size(c_idx) > 0) z_alpha[c_idx] ~ normal(mu_alpha, sigma_alpha);
  if (size(c_slope) > 0) z_beta[c_slope] ~ normal(mu_beta, sigma_beta);
  z_alpha[nc_idx] ~ std_normal();
  z_beta[nc_slope] ~ std_normal();
  {
    vector[J] a = alpha;
    vector[J] b = beta;
#include model/radon_likelihood.stan
  }
}
generated quantities {
  // per-house output; pointwise = 0 leaves it empty (it can cost more than the sampling)
  vector[pointwise ? N : 0] log_lik;
  array[pointwise ? N : 0] real y_rep;
  if (pointwise) {
    vector[J] a = alpha;
    vector[J] b = beta;
#include generated_quantities/radon.stan
  }
}
