  // fixed effects, population means of the school coefficients, residual log-precision terms
  // (on the original scale) and the standardised school deviations (both exam programs)
  gamma ~ normal(0, coef_scale);
  beta ~ normal(0, coef_scale);
  theta ~ normal(0, coef_scale);
  phi ~ normal(0, coef_scale);
  to_vector(z) ~ std_normal();
