// Eight schools, centered: theta sampled directly (docs/models.md §1).
data {
#include eight_schools_data.stan
}
parameters {
  real mu;
  real<lower=0> tau;
  vector[J] theta;
}
model {
  // population priors
  mu ~ normal(0, mu_scale);
  tau ~ cauchy(0, tau_scale);
  // school effects
  theta ~ normal(mu, tau);
  // measured effects
  if (!prior_only) {
    y ~ normal(theta, sigma);
  }
}
generated quantities {
#include eight_schools_generated.stan
}
