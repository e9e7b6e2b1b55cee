// Thai repeat, school intercepts and school pped slopes, independent normals (docs/models.md §4).
// Each school centered or non-centered by the data flag `centered`.
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
  real mu_alpha;
  real<lower=0> sigma_alpha;
  real mu_beta;
  real<lower=0> sigma_beta;
  // school j's intercept and slope themselves where centered[j] = 1, otherwise standardised
  // deviates (see below)
  vector[J] z_alpha;
  vector[J] z_beta;
}
transformed parameters {
  vector[J] alpha;
  vector[J] beta;
  alpha[c_idx] = z_alpha[c_idx];
  beta[c_idx] = z_beta[c_idx];
  if (size(nc_idx) > 0) {
    // Non-centered schools, about each school's pped share c: the data pin down the school's
    // logit at c, alpha + c * beta, so that combination gets its own standard-normal deviation
    // (z_alpha) and beta the independent remainder (z_beta). The prior of (alpha, beta) is
    // unchanged; c = 0 is the textbook form, whose sigma_beta mixes ~3x slower on the full data.
    // Computed for every school (whole-vector arithmetic is cheaper than indexing each term),
    // kept for the non-centered ones.
    vector[J] sd_at_c = sqrt(square(sigma_alpha) + square(sigma_beta * pped_centre));
    vector[J] beta_nc = mu_beta + sigma_beta
        * (sigma_beta * pped_centre .* z_alpha + sigma_alpha * z_beta) ./ sd_at_c;
    vector[J] alpha_nc
        = mu_alpha + pped_centre * mu_beta + sd_at_c .* z_alpha - pped_centre .* beta_nc;
    alpha[nc_idx] = alpha_nc[nc_idx];
    beta[nc_idx] = beta_nc[nc_idx];
  }
}
model {
#include model/thai_priors_intercepts.stan
#include model/thai_priors_slopes.stan
  // an empty set still checks its scale, which can underflow to 0 in warmup
  if (size(c_idx) > 0) z_alpha[c_idx] ~ normal(mu_alpha, sigma_alpha);
  if (size(c_idx) > 0) z_beta[c_idx] ~ normal(mu_beta, sigma_beta);
  z_alpha[nc_idx] ~ std_normal();
  z_beta[nc_idx] ~ std_normal();
  if (!prior_only) {
    if (use_cells) {
      cell_y ~ binomial_logit(cell_n, alpha[cell_school] + beta[cell_school] .* cell_pped);
    } else {
      y ~ bernoulli_logit(alpha[school] + beta[school] .* pped);
    }
  }
}
generated quantities {
  // pointwise log-likelihood (PSIS-LOO) and replicated outcomes, pupil by pupil; pointwise = 0
  // leaves them empty (writing out 2 N values per draw can cost more than the sampling)
  vector[pointwise ? N : 0] log_lik;
  array[pointwise ? N : 0] int y_rep;
  if (pointwise) {
    vector[N] eta = alpha[school] + beta[school] .* pped;
#include generated_quantities/thai.stan
  }
}
