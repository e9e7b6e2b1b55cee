  // pupils: outcome (repeated a class), school, the fixed-effect columns X (none; pped; or
  // sex, pped, msesc) and pped on its own for the varying slope
  int<lower=1> N;
  int<lower=1> J;
  array[N] int<lower=0, upper=1> y;
  array[N] int<lower=1, upper=J> school;
  int<lower=0> K;
  matrix[N, K] X;
  vector[N] pped;
  // cells: pupils of one school with the same covariate values share one linear predictor, so
  // their outcomes enter the likelihood only through n and the number of repeats (exact)
  int<lower=1> C;
  array[C] int<lower=1, upper=J> cell_school;
  matrix[C, K] cell_X;
  vector[C] cell_pped;
  array[C] int<lower=1> cell_n;
  array[C] int<lower=0> cell_y;
  // 1 = likelihood from the cells (O(cells) per gradient), 0 = pupil by pupil
  int<lower=0, upper=1> use_cells;
  // priors: coefficients normal(0, coef_scale), hyper-means normal(0, mean_scale),
  // hyper-scales half-normal(0, hyper_scale)
  real<lower=0> coef_scale;
  real<lower=0> mean_scale;
  real<lower=0> hyper_scale;
  // per school: 1 = sample its effects themselves (centered), 0 = their standardised deviations
  // (non-centered)
  array[J] int<lower=0, upper=1> centered;
  // random_slope, non-centered schools: the pped value about which each school's effects are
  // non-centered (its share of pped pupils; zeros for the textbook form; unused where centered)
  vector<lower=0, upper=1>[J] pped_centre;
  // 1 = generate per-pupil log_lik and y_rep, 0 = skip them
  int<lower=0, upper=1> pointwise;
  // 1 = ignore the likelihood (prior and prior-predictive draws)
  int<lower=0, upper=1> prior_only;
