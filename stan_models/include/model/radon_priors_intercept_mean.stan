  // mean of the county intercepts (varying_intercept, varying_intercept_slope)
  mu_alpha ~ normal(0, coef_scale);
