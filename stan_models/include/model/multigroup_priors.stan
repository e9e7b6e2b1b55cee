  // noise sd (every multigroup program), the prior chosen by the sigma_prior flag (no recompilation
  // to switch)
  if (sigma_prior == 1) {
    sigma ~ normal(0, sigma_scale);
  } else {
    sigma ~ inv_gamma(sigma_ig_shape, sigma_ig_scale);
  }
