  // schools, their estimated effects and known standard errors
  int<lower=1> J;
  vector[J] y;
  vector<lower=0>[J] sigma;
  // prior scales: mu ~ normal(0, mu_scale), tau ~ half-Cauchy(0, tau_scale)
  real<lower=0> mu_scale;
  real<lower=0> tau_scale;
  // 1 = ignore the likelihood (prior and prior-predictive draws)
  int<lower=0, upper=1> prior_only;
