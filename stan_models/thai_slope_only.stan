// Thai repeat, one intercept and school pped slopes (docs/models.md §4). Each school centered or
// non-centered by the data flag `centered`.
functions {
#include functions/centering.stan
}
data {
#include data/thai.stan
}
transformed data {
#include transformed_data/centering.stan
}
parameters {
  real alpha;
  real mu_beta;
  real<lower=0> sigma_beta;
  // school j's pped slope itself where centered[j] = 1, its standardised deviate otherwise
  vector[J] z_beta;
}
transformed parameters {
  vector[J] beta;
  beta[c_idx] = z_beta[c_idx];
  beta[nc_idx] = mu_beta + sigma_beta * z_beta[nc_idx];
}
model {
  alpha ~ normal(0, coef_scale);
#include model/thai_priors_slopes.stan
  // an empty set still checks its scale, which can underflow to 0 in warmup
  if (size(c_idx) > 0) z_beta[c_idx] ~ normal(mu_beta, sigma_beta);
  z_beta[nc_idx] ~ std_normal();
  if (!prior_only) {
    if (use_cells) {
      cell_y ~ binomial_logit(cell_n, alpha + beta[cell_school] .* cell_pped);
    } else {
      y ~ bernoulli_logit(alpha + beta[school] .* pped);
    }
  }
}
generated quantities {
  // pointwise log-likelihood (PSIS-LOO) and replicated outcomes, pupil by pupil; pointwise = 0
  // leaves them empty (writing out 2 N values per draw can cost more than the sampling)
  vector[pointwise ? N : 0] log_lik;
  array[pointwise ? N : 0] int y_rep;
  if (pointwise) {
    vector[N] eta = alpha + beta[school] .* pped;
#include generated_quantities/thai.stan
  }
}
