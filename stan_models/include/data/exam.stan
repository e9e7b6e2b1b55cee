  // pupils: exam score, school, and the predictors on their original scales
  int<lower=1> N;
  int<lower=1> J;
  vector[N] y;
  array[N] int<lower=1, upper=J> school;
  // school-varying terms: intercept, lrt, vr1 (verbal-reasoning band 1 indicator)
  vector[N] lrt;
  vector[N] vr1;
  // fixed effects b1..b8: lrt^2, vr2, girl, boys' school, girls' school, CE, RC, other denomination
  matrix[N, 8] X;
  // 1 = the sampler works on centred and scaled predictors (results are reported on the
  // original scale either way), 0 = on the original scale, as the model is written
  int<lower=0, upper=1> standardise;
  // gamma, b, theta and phi ~ normal(0, coef_scale)
  real<lower=0> coef_scale;
  // 1 = generate per-row log_lik and y_rep, 0 = skip them
  int<lower=0, upper=1> pointwise;
  int<lower=0, upper=1> prior_only;
