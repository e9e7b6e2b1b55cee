// Minnesota radon, no pooling: an independent intercept and slope per county (docs/models.md §2).
data {
#include data/radon.stan
}
parameters {
  real<lower=0> sigma_y;
  vector[J] alpha;
  vector[J] beta;
}
model {
#include model/radon_priors.stan
#include model/radon_priors_intercepts_fixed.stan
#include model/radon_priors_slope.stan
  {
    vector[J] a = alpha;
    vector[J] b = beta;
#include model/radon_likelihood.stan
  }
}
generated quantities {
  // per-house output; pointwise = 0 leaves it empty (it can cost more than the sampling)
  vector[pointwise ? N : 0] log_lik;
  array[pointwise ? N : 0] real y_rep;
  if (pointwise) {
    vector[J] a = alpha;
    vector[J] b = beta;
#include generated_quantities/radon.stan
  }
}
