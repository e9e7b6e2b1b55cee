  // pointwise log-likelihood (PSIS-LOO) and replicated outcomes (predictive checks); pointwise = 0
  // leaves them empty
  vector[pointwise ? N : 0] log_lik;
  array[pointwise ? N : 0] real y_rep;
  if (pointwise) {
    vector[N] eta = linear_predictor(X, w, group);
    y_rep = normal_rng(eta, sigma);
    for (i in 1:N) {
      log_lik[i] = normal_lpdf(y[i] | eta[i], sigma);
    }
  }
