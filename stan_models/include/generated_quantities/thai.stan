    // from the pupils' linear predictor eta
    for (i in 1:N) {
      log_lik[i] = bernoulli_logit_lpmf(y[i] | eta[i]);
    }
    y_rep = bernoulli_logit_rng(eta);
