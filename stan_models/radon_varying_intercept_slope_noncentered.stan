// Minnesota radon, varying intercept and slope (noncentered) (docs/models.md §2).
data {
#include radon_data.stan
}
parameters {
  real<lower=0> sigma_y;
  real mu_alpha;
  real<lower=0> sigma_alpha;
  real mu_beta;
  real<lower=0> sigma_beta;
  vector[J] z_alpha;
  vector[J] z_beta;
}
transformed parameters {
  // county intercepts and slopes
  vector[J] alpha = mu_alpha + sigma_alpha * z_alpha;
  vector[J] beta = mu_beta + sigma_beta * z_beta;
}
model {
  // priors
  sigma_y ~ cauchy(0, sigma_scale);
  mu_alpha ~ normal(0, coef_scale);
  sigma_alpha ~ cauchy(0, hyper_scale);
  mu_beta ~ normal(0, coef_scale);
  sigma_beta ~ cauchy(0, hyper_scale);
  z_alpha ~ std_normal();
  z_beta ~ std_normal();
  {
    vector[J] a = alpha;
    vector[J] b = beta;
#include radon_likelihood.stan
  }
}
generated quantities {
  // per-house output; pointwise = 0 leaves it empty (it can cost more than the sampling)
  vector[pointwise ? N : 0] log_lik;
  array[pointwise ? N : 0] real y_rep;
  if (pointwise) {
    vector[J] a = alpha;
    vector[J] b = beta;
#include radon_generated.stan
  }
}
