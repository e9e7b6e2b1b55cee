  // population of the school intercepts (varying_intercept, random_slope)
  mu_alpha ~ normal(0, mean_scale);
  sigma_alpha ~ normal(0, hyper_scale);
