  // schools, their estimated effects and known standard errors
  int<lower=1> J;
  vector[J] y;
  vector<lower=0>[J] sigma;
  // prior scales: mu ~ normal(0, mu_scale), tau ~ half-Cauchy(0, tau_scale)
  real<lower=0> mu_scale;
  real<lower=0> tau_scale;
  // per school: 1 = sample its effect itself (centered), 0 = its standardised deviation
  array[J] int<lower=0, upper=1> centered;
  // 1 = generate per-school log_lik and y_rep, 0 = skip them
  int<lower=0, upper=1> pointwise;
  // 1 = ignore the likelihood (prior and prior-predictive draws)
  int<lower=0, upper=1> prior_only;
