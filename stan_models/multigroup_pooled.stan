// G-group regression, pooled: one coefficient vector w for every group (docs/models.md §3).
functions {
#include functions/multigroup.stan
}
data {
#include data/multigroup.stan
  // prior scale: w ~ normal(0, w_scale)
  real<lower=0> w_scale;
}
parameters {
  vector[m] w;
  real<lower=0> sigma;
}
model {
  // coefficients
  w ~ normal(0, w_scale);
#include model/multigroup_priors.stan
  // outcomes, through Stan's fused linear-regression likelihood (group is ignored)
  if (!prior_only) {
    y ~ normal_id_glm(X, 0, w, sigma);
  }
}
generated quantities {
#include generated_quantities/multigroup.stan
}
