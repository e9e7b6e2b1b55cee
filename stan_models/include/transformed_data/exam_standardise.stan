  // lrt spans +-35 and lrt^2 reaches 1400: on those scales the coefficients differ by orders of
  // magnitude and NUTS needs deep trees. The sampler sees l = lrt / s_lrt and centred, scaled X;
  // the coefficients on the original scale are linear maps of the sampled ones (constant
  // Jacobian), so the priors (model/exam_priors.stan) are put on the original-scale quantities
  // directly.
  // lrt is not centred: that would mix the school intercepts with the school lrt slopes.
  real s_lrt = standardise ? sd(lrt) : 1;
  vector[N] l = lrt / s_lrt;
  vector[8] x_centre = rep_vector(0, 8);
  vector[8] x_scale = rep_vector(1, 8);
  if (standardise) {
    for (k in 1:8) {
      x_centre[k] = mean(X[:, k]);
      x_scale[k] = sd(X[:, k]);
    }
  }
  matrix[N, 8] X_std = (X - rep_matrix(x_centre', N)) ./ rep_matrix(x_scale', N);
  // scale of each school coefficient: sampled = d .* original
  vector[3] d = [1, s_lrt, 1]';
