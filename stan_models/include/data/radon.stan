  // houses: outcome, predictor (floor) and county
  int<lower=1> N;
  int<lower=1> J;
  vector[N] y;
  vector[N] x;
  array[N] int<lower=1, upper=J> county;
  // county-level predictor (log uranium; used by group_predictor only)
  vector[J] u;
  // (county, x) cells: count, mean and the pooled within-cell sum of squares are exact
  // sufficient statistics of the Gaussian likelihood
  int<lower=1> K;
  array[K] int<lower=1, upper=J> cell_county;
  vector[K] cell_x;
  vector<lower=1>[K] cell_n;
  vector[K] cell_mean;
  real<lower=0> within_ss;
  // 1 = likelihood from the cells (O(cells) per gradient), 0 = house by house
  int<lower=0, upper=1> use_cells;
  // prior scales: coefficients and hyper-means normal(0, coef_scale); hyper-scales
  // half-Cauchy(0, hyper_scale); residual scale half-Cauchy(0, sigma_scale)
  real<lower=0> coef_scale;
  real<lower=0> hyper_scale;
  real<lower=0> sigma_scale;
  // 1 = generate per-row log_lik and y_rep, 0 = skip them
  int<lower=0, upper=1> pointwise;
  // 1 = ignore the likelihood (prior and prior-predictive draws)
  int<lower=0, upper=1> prior_only;
