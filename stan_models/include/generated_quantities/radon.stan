    // pointwise log-likelihood and replicated log radon, house by house
    vector[N] mu_house = a[county] + b[county] .* x;
    for (i in 1:N) {
      log_lik[i] = normal_lpdf(y[i] | mu_house[i], sigma_y);
    }
    y_rep = normal_rng(mu_house, sigma_y);
