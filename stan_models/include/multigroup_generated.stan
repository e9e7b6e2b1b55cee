  // pointwise log-likelihood (PSIS-LOO) and replicated outcomes (predictive checks)
  vector[N] log_lik;
  array[N] real y_rep;
  {
    vector[N] eta = linear_predictor(X, w, group);
    y_rep = normal_rng(eta, sigma);
    for (i in 1:N) {
      log_lik[i] = normal_lpdf(y[i] | eta[i], sigma);
    }
  }
