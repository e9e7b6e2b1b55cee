// Thai repeat, one intercept and school pped slopes (docs/models.md §4).
data {
#include thai_data.stan
}
parameters {
  real alpha;
  real mu_beta;
  real<lower=0> sigma_beta;
  vector[J] beta_raw;
}
transformed parameters {
  vector[J] beta = centered ? beta_raw : mu_beta + sigma_beta * beta_raw;
}
model {
  alpha ~ normal(0, coef_scale);
  mu_beta ~ normal(0, mean_scale);
  sigma_beta ~ normal(0, hyper_scale);
  if (centered) {
    beta_raw ~ normal(mu_beta, sigma_beta);
  } else {
    beta_raw ~ std_normal();
  }
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
#include thai_generated.stan
  }
}
