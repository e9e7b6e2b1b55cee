  // population of the school pped slopes (random_slope, slope_only)
  mu_beta ~ normal(0, mean_scale);
  sigma_beta ~ normal(0, hyper_scale);
