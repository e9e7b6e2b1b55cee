  // outcomes: sum_i normal_lpdf(y_i | x_i' w_{g[i]}, sigma) up to a constant, through each
  // group's residual sum of squares ||y_g - X_g w_g||^2 = y_g'y_g - 2 y_g'X_g w_g + w_g'X_g'X_g w_g
  if (!prior_only) {
    vector[G] rss;
    for (g in 1:G) {
      rss[g] = yty[g] - 2 * ytX[g] * w[g]' + quad_form(XtX[g], w[g]');
    }
    target += -N * log(sigma) - 0.5 * sum(rss) / square(sigma);
  }
