  // intercept(s) without a population (pooled, unpooled)
  alpha ~ normal(0, coef_scale);
