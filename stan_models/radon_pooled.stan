// Minnesota radon, complete pooling: one intercept and slope for every county (docs/models.md §2).
data {
#include data/radon.stan
}
parameters {
  real<lower=0> sigma_y;
  real alpha;
  real beta;
}
model {
#include model/radon_priors.stan
#include model/radon_priors_intercepts_fixed.stan
#include model/radon_priors_slope.stan
  {
    vector[J] a = rep_vector(alpha, J);
    vector[J] b = rep_vector(beta, J);
#include model/radon_likelihood.stan
  }
}
generated quantities {
  // per-house output; pointwise = 0 leaves it empty (it can cost more than the sampling)
  vector[pointwise ? N : 0] log_lik;
  array[pointwise ? N : 0] real y_rep;
  if (pointwise) {
    vector[J] a = rep_vector(alpha, J);
    vector[J] b = rep_vector(beta, J);
#include generated_quantities/radon.stan
  }
}
