  if (!prior_only) {
    // y ~ normal(mu, s): mean mu = X_std * beta_std + school part (transformed_data/exam_likelihood.stan),
    // sd s = exp(-0.5 * (theta + phi_std * l)). Written out, with r = y - mu,
    //   sum(log normal(y | mu, s)) = N log(1 / sqrt(2 pi)) + 0.5 sum(theta + phi_std * l)
    //                                - 0.5 sum(exp(theta + phi_std * l) .* r^2);
    // the first term, a constant, is N std_normal_lupdf(0): kept where Stan keeps constants and 0
    // where `~` drops them (sampling), as the normal_id_glm this replaces did.
    vector[N] r = y - X_std * beta_std
                  - csr_matrix_times_vector(N, 3 * J, school_w, school_v, school_u, to_vector(a_std));
    vector[n_l] precision = exp(theta + phi_std * l_value);
    target += N * std_normal_lupdf(0) + 0.5 * (N * theta + phi_std * sum_l)
              - 0.5 * dot_product(precision[l_group], square(r));
  }
