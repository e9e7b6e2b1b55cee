  // per-group sufficient statistics: the normal likelihood of a group's rows depends on the data
  // only through X_g'X_g, X_g'y_g and y_g'y_g, so each gradient costs O(G m^2), not O(N m)
  // (the likelihood is evaluated at every leapfrog step, 40-100 of them per draw here)
  array[G] matrix[m, m] XtX = rep_array(rep_matrix(0, m, m), G);
  array[G] row_vector[m] ytX = rep_array(rep_row_vector(0, m), G);
  vector[G] yty = rep_vector(0, G);
  for (i in 1:N) {
    XtX[group[i]] += X[i]' * X[i];
    ytX[group[i]] += y[i] * X[i];
    yty[group[i]] += square(y[i]);
  }
