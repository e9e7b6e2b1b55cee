    // log radon given county intercepts a and slopes b (constant terms dropped)
    if (!prior_only) {
      if (use_cells) {
        vector[K] m = a[cell_county] + b[cell_county] .* cell_x;
        target += -N * log(sigma_y)
                  - (within_ss + dot_product(cell_n, square(cell_mean - m))) / (2 * square(sigma_y));
      } else {
        y ~ normal(a[county] + b[county] .* x, sigma_y);
      }
    }
