  // residual scale (every radon program; the scales are data, see data/radon.stan)
  sigma_y ~ cauchy(0, sigma_scale);
