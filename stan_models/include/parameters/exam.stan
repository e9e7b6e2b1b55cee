  // everything on the sampler's (standardised) scale; see transformed_data/exam_standardise.stan
  vector[3] gamma_std;
  vector[8] beta_std;
  real theta;
  real phi_std;
  matrix[3, J] z;
