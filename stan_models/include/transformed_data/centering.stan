  // groups whose effects are sampled centered (c_idx) and non-centered (nc_idx); needs
  // functions/centering.stan
  array[sum(centered)] int c_idx = which_equal(centered, 1);
  array[size(centered) - sum(centered)] int nc_idx = which_equal(centered, 0);
