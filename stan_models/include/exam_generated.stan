  // school coefficients on the original scale: intercept, lrt, vr1
  matrix[J, 3] a = a_std;
  a[:, 1] -= dot_product(beta, x_centre);
  a[:, 2] /= s_lrt;
  vector[N] log_lik;
  array[N] real y_rep;
  {
    vector[N] mu = a_std[school, 1] + a_std[school, 2] .* l + a_std[school, 3] .* vr1 + X_std * beta_std;
    vector[N] s = exp(-0.5 * (theta + phi_std * l));
    for (i in 1:N) {
      log_lik[i] = normal_lpdf(y[i] | mu[i], s[i]);
    }
    y_rep = normal_rng(mu, s);
  }
