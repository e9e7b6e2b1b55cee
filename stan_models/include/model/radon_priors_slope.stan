  // slope(s) without a population: the common slope, or pooled's and unpooled's
  beta ~ normal(0, coef_scale);
