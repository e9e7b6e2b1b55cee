  // x_i' w for every row: one coefficient vector shared by all groups (pooled)
  vector linear_predictor(matrix X, vector w, array[] int group) {
    return X * w;
  }
  // x_i' w_{g[i]} for every row: w has one row per group
  vector linear_predictor(matrix X, matrix w, array[] int group) {
    return rows_dot_product(X, w[group]);
  }
