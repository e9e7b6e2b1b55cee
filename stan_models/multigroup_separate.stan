// G-group regression, separate: an independent coefficient vector per group (docs/models.md §3).
functions {
#include functions/multigroup.stan
}
data {
#include data/multigroup.stan
  // prior scale: every w[g, k] ~ normal(0, w_scale)
  real<lower=0> w_scale;
}
transformed data {
#include transformed_data/multigroup_sufficient.stan
}
parameters {
  // row g is group g's coefficient vector
  matrix[G, m] w;
  real<lower=0> sigma;
}
model {
  // coefficients
  to_vector(w) ~ normal(0, w_scale);
#include model/multigroup_priors.stan
#include model/multigroup_likelihood.stan
}
generated quantities {
#include generated_quantities/multigroup.stan
}
