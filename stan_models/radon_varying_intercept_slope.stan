// Minnesota radon, varying intercept and slope (docs/models.md §2); centered or non-centered
// county by county through the data flag `centered`.
functions {
#include functions/centering.stan
}
data {
#include data/radon.stan
  // per county: 1 = sample its intercept and slope themselves (centered), 0 = their
  // standardised deviations
  array[J] int<lower=0, upper=1> centered;
}
transformed data {
#include transformed_data/centering.stan
}
parameters {
  real<lower=0> sigma_y;
  real mu_alpha;
  real<lower=0> sigma_alpha;
  real mu_beta;
  real<lower=0> sigma_beta;
  // county j's intercept and slope themselves where centered[j] = 1, their standardised
  // deviates otherwise
  vector[J] z_alpha;
  vector[J] z_beta;
}
transformed parameters {
  // county intercepts and slopes
  vector[J] alpha;
  vector[J] beta;
  alpha[c_idx] = z_alpha[c_idx];
  beta[c_idx] = z_beta[c_idx];
  alpha[nc_idx] = mu_alpha + sigma_alpha * z_alpha[nc_idx];
  beta[nc_idx] = mu_beta + sigma_beta * z_beta[nc_idx];
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
  if (size(c_idx) > 0) z_beta[c_idx] ~ normal(mu_beta, sigma_beta);
  z_alpha[nc_idx] ~ std_normal();
  z_beta[nc_idx] ~ std_normal();
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
