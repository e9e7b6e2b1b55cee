  if (!prior_only) {
    // school part as the GLM's per-pupil intercept; log precision theta + phi * lrt
    y ~ normal_id_glm(X_std, a_std[school, 1] + a_std[school, 2] .* l + a_std[school, 3] .* vr1,
                      beta_std, exp(-0.5 * (theta + phi_std * l)));
  }
