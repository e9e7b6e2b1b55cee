// Eight schools, non-centered: theta = mu + tau * z_theta (docs/models.md §1).
data {
#include eight_schools_data.stan
}
parameters {
  real mu;
  real<lower=0> tau;
  vector[J] z_theta;
}
transformed parameters {
  // school effects
  vector[J] theta = mu + tau * z_theta;
}
model {
  // population priors
  mu ~ normal(0, mu_scale);
  tau ~ cauchy(0, tau_scale);
  // standardised school effects
  z_theta ~ std_normal();
  // measured effects
  if (!prior_only) {
    y ~ normal(theta, sigma);
  }
}
generated quantities {
#include eight_schools_generated.stan
}
