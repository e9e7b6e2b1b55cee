// Minnesota radon, varying intercept, common slope (noncentered) (docs/models.md §2).
data {
#include radon_data.stan
}
parameters {
  real<lower=0> sigma_y;
  real mu_alpha;
  real<lower=0> sigma_alpha;
  vector[J] z_alpha;
  real beta;
}
transformed parameters {
  // county intercepts and slopes
  vector[J] alpha = mu_alpha + sigma_alpha * z_alpha;
}
model {
  // priors
  sigma_y ~ cauchy(0, sigma_scale);
  mu_alpha ~ normal(0, coef_scale);
  sigma_alpha ~ cauchy(0, hyper_scale);
  beta ~ normal(0, coef_scale);
  z_alpha ~ std_normal();
  {
    vector[J] a = alpha;
    vector[J] b = rep_vector(beta, J);
#include radon_likelihood.stan
  }
}
generated quantities {
  // per-house output; pointwise = 0 leaves it empty (it can cost more than the sampling)
  vector[pointwise ? N : 0] log_lik;
  array[pointwise ? N : 0] real y_rep;
  if (pointwise) {
    vector[J] a = alpha;
    vector[J] b = rep_vector(beta, J);
#include radon_generated.stan
  }
}
