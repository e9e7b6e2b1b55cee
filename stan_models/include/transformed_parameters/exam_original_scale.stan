  // fixed effects, population means of the school coefficients and phi on the original scale
  vector[8] beta = beta_std ./ x_scale;
  vector[3] gamma = [gamma_std[1] - dot_product(beta, x_centre), gamma_std[2] / s_lrt, gamma_std[3]]';
  real phi = phi_std / s_lrt;
