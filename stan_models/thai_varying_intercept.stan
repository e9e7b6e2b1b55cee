// Thai repeat, school intercepts plus fixed effects X (docs/models.md §4): intercept_only (K = 0),
// random_intercept (X = pped) and covariates (X = sex, pped, msesc) differ only in X. Each school
// centered or non-centered by the data flag `centered`.
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
  // school j's intercept itself where centered[j] = 1, its standardised deviate otherwise
  vector[J] z_alpha;
  vector[K] beta;
}
transformed parameters {
  vector[J] alpha;
  alpha[c_idx] = z_alpha[c_idx];
  alpha[nc_idx] = mu_alpha + sigma_alpha * z_alpha[nc_idx];
}
model {
#include model/thai_priors_intercepts.stan
  // an empty set still checks its scale, which can underflow to 0 in warmup
  if (size(c_idx) > 0) z_alpha[c_idx] ~ normal(mu_alpha, sigma_alpha);
  z_alpha[nc_idx] ~ std_normal();
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
#include generated_quantities/thai.stan
  }
}
