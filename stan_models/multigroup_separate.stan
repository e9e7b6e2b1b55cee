// G-group regression, separate: an independent coefficient vector per group (docs/models.md §3).
functions {
#include multigroup_functions.stan
}
data {
#include multigroup_data.stan
  // prior scale: every w[g, k] ~ normal(0, w_scale)
  real<lower=0> w_scale;
}
transformed data {
#include multigroup_sufficient.stan
}
parameters {
  // row g is group g's coefficient vector
  matrix[G, m] w;
  real<lower=0> sigma;
}
model {
  // coefficients
  to_vector(w) ~ normal(0, w_scale);
#include multigroup_sigma_prior.stan
#include multigroup_likelihood.stan
}
generated quantities {
#include multigroup_generated.stan
}
