// Minnesota radon, no pooling: an independent intercept and slope per county (docs/models.md §2).
data {
#include radon_data.stan
}
parameters {
  real<lower=0> sigma_y;
  vector[J] alpha;
  vector[J] beta;
}
model {
  // priors
  sigma_y ~ cauchy(0, sigma_scale);
  alpha ~ normal(0, coef_scale);
  beta ~ normal(0, coef_scale);
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
