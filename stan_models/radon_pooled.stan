// Minnesota radon, complete pooling: one intercept and slope for every county (MODELS.md §2).
data {
#include radon_data.stan
}
parameters {
  real<lower=0> sigma_y;
  real alpha;
  real beta;
}
model {
  // priors
  sigma_y ~ cauchy(0, sigma_scale);
  alpha ~ normal(0, coef_scale);
  beta ~ normal(0, coef_scale);
  {
    vector[J] a = rep_vector(alpha, J);
    vector[J] b = rep_vector(beta, J);
#include radon_likelihood.stan
  }
}
generated quantities {
  vector[N] log_lik;
  array[N] real y_rep;
  {
    vector[J] a = rep_vector(alpha, J);
    vector[J] b = rep_vector(beta, J);
#include radon_generated.stan
  }
}
