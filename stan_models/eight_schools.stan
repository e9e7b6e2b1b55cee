// Eight schools (docs/models.md §1): theta_j ~ normal(mu, tau), each school centered (theta
// sampled directly) or non-centered (theta = mu + tau * z_theta) by the data flag `centered`.
functions {
#include functions/centering.stan
}
data {
#include data/eight_schools.stan
}
transformed data {
#include transformed_data/centering.stan
}
parameters {
  real mu;
  real<lower=0> tau;
  // school j's effect itself where centered[j] = 1, its standardised deviate otherwise
  vector[J] z_theta;
}
transformed parameters {
  // school effects
  vector[J] theta;
  theta[c_idx] = z_theta[c_idx];
  theta[nc_idx] = mu + tau * z_theta[nc_idx];
}
model {
  // population priors
  mu ~ normal(0, mu_scale);
  tau ~ cauchy(0, tau_scale);
  // school effects
  // an empty set still checks its scale, which can underflow to 0 in warmup
  if (size(c_idx) > 0) z_theta[c_idx] ~ normal(mu, tau);
  z_theta[nc_idx] ~ std_normal();
  // measured effects
  if (!prior_only) {
    y ~ normal(theta, sigma);
  }
}
generated quantities {
#include generated_quantities/eight_schools.stan
}
