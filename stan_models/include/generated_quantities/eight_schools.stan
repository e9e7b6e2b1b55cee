  // pointwise log-likelihood (PSIS-LOO) and replicated effects (predictive checks); pointwise = 0
  // leaves them empty
  vector[pointwise ? J : 0] log_lik;
  array[pointwise ? J : 0] real y_rep;
  if (pointwise) {
    y_rep = normal_rng(theta, sigma);
    for (j in 1:J) {
      log_lik[j] = normal_lpdf(y[j] | theta[j], sigma[j]);
    }
  }
