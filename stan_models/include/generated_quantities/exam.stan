  // school coefficients on the original scale: intercept, lrt, vr1
  matrix[J, 3] a = a_std;
  a[:, 1] -= dot_product(beta, x_centre);
  a[:, 2] /= s_lrt;
  // per-pupil output; pointwise = 0 leaves it empty (it can cost more than the sampling)
  vector[pointwise ? N : 0] log_lik;
  array[pointwise ? N : 0] real y_rep;
  if (pointwise) {
    vector[N] mu = a_std[school, 1] + a_std[school, 2] .* l + a_std[school, 3] .* vr1 + X_std * beta_std;
    vector[N] s = exp(-0.5 * (theta + phi_std * l));
    for (i in 1:N) {
      log_lik[i] = normal_lpdf(y[i] | mu[i], s[i]);
    }
    y_rep = normal_rng(mu, s);
  }
