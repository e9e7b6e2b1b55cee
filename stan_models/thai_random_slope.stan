// Thai repeat, school intercepts and school pped slopes, independent normals (docs/models.md §4).
data {
#include thai_data.stan
}
parameters {
  real mu_alpha;
  real<lower=0> sigma_alpha;
  real mu_beta;
  real<lower=0> sigma_beta;
  vector[J] alpha_raw;
  vector[J] beta_raw;
}
transformed parameters {
  vector[J] alpha = alpha_raw;
  vector[J] beta = beta_raw;
  if (!centered) {
    // Non-centered about each school's pped share c: the data pin down the school's logit at c,
    // alpha + c * beta, so that combination gets its own standard-normal deviation (alpha_raw)
    // and beta the independent remainder (beta_raw). The prior of (alpha, beta) is unchanged;
    // c = 0 is the textbook form, whose sigma_beta mixes ~3x slower on the full data.
    vector[J] sd_at_c = sqrt(square(sigma_alpha) + square(sigma_beta * pped_centre));
    beta = mu_beta + sigma_beta * (sigma_beta * pped_centre .* alpha_raw + sigma_alpha * beta_raw) ./ sd_at_c;
    alpha = mu_alpha + pped_centre * mu_beta + sd_at_c .* alpha_raw - pped_centre .* beta;
  }
}
model {
  mu_alpha ~ normal(0, mean_scale);
  sigma_alpha ~ normal(0, hyper_scale);
  mu_beta ~ normal(0, mean_scale);
  sigma_beta ~ normal(0, hyper_scale);
  if (centered) {
    alpha_raw ~ normal(mu_alpha, sigma_alpha);
    beta_raw ~ normal(mu_beta, sigma_beta);
  } else {
    alpha_raw ~ std_normal();
    beta_raw ~ std_normal();
  }
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
#include thai_generated.stan
  }
}
