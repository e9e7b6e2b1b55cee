  // rows, groups and predictors (x_i has no intercept column unless the caller adds one)
  int<lower=1> N;
  int<lower=1> G;
  int<lower=1> m;
  matrix[N, m] X;
  array[N] int<lower=1, upper=G> group;
  vector[N] y;
  // noise sd prior: 1 = half-normal(0, sigma_scale),
  // 2 = inverse-gamma(sigma_ig_shape, sigma_ig_scale) as in the original analysis
  int<lower=1, upper=2> sigma_prior;
  real<lower=0> sigma_scale;
  real<lower=0> sigma_ig_shape;
  real<lower=0> sigma_ig_scale;
  // 1 = generate per-row log_lik and y_rep, 0 = skip them
  int<lower=0, upper=1> pointwise;
  // 1 = ignore the likelihood (prior and prior-predictive draws)
  int<lower=0, upper=1> prior_only;
