// Thai repeat, school intercepts plus fixed effects X (docs/models.md §4): intercept_only (K = 0),
// random_intercept (X = pped) and covariates (X = sex, pped, msesc) differ only in X.
data {
#include thai_data.stan
}
parameters {
  real mu_alpha;
  real<lower=0> sigma_alpha;
  vector[J] alpha_raw;
  vector[K] beta;
}
transformed parameters {
  vector[J] alpha = centered ? alpha_raw : mu_alpha + sigma_alpha * alpha_raw;
}
model {
  mu_alpha ~ normal(0, mean_scale);
  sigma_alpha ~ normal(0, hyper_scale);
  if (centered) {
    alpha_raw ~ normal(mu_alpha, sigma_alpha);
  } else {
    alpha_raw ~ std_normal();
  }
  beta ~ normal(0, coef_scale);
  if (!prior_only) {
    // the GLM functions drop the whole likelihood when X has no columns, so K = 0 needs its own line
    if (use_cells && K == 0) {
      cell_y ~ binomial_logit(cell_n, alpha[cell_school]);
    } else if (use_cells) {
      cell_y ~ binomial_logit_glm(cell_n, cell_X, alpha[cell_school], beta);
    } else if (K == 0) {
      y ~ bernoulli_logit(alpha[school]);
    } else {
      y ~ bernoulli_logit_glm(X, alpha[school], beta);
    }
  }
}
generated quantities {
  // pointwise log-likelihood (PSIS-LOO) and replicated outcomes, pupil by pupil; pointwise = 0
  // leaves them empty (writing out 2 N values per draw can cost more than the sampling)
  vector[pointwise ? N : 0] log_lik;
  array[pointwise ? N : 0] int y_rep;
  if (pointwise) {
    vector[N] eta = alpha[school] + X * beta;
#include thai_generated.stan
  }
}
