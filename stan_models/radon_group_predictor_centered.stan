// Minnesota radon, varying intercept with county log-uranium predictor (centered; Gelman & Hill ch. 12) (docs/models.md §2).
data {
#include radon_data.stan
}
parameters {
  real<lower=0> sigma_y;
  real gamma_0;
  real gamma_1;
  real<lower=0> sigma_alpha;
  vector[J] alpha;
  real beta;
}
model {
  // priors
  sigma_y ~ cauchy(0, sigma_scale);
  gamma_0 ~ normal(0, coef_scale);
  gamma_1 ~ normal(0, coef_scale);
  sigma_alpha ~ cauchy(0, hyper_scale);
  beta ~ normal(0, coef_scale);
  alpha ~ normal(gamma_0 + gamma_1 * u, sigma_alpha);
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
