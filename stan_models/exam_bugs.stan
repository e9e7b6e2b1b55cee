// Exam scores, docs/models.md §5, `bugs` (the published BUGS analysis): as exam_lkj.stan but
// Sigma^-1 ~ Wishart(3, R^-1), i.e. Sigma ~ inv_wishart(3, R), and normal(0, 100) coefficients.
// Written for stanc's --O1 (the likelihood's vectors each one autodiff node): the marker
// below makes both engines compile it so.
// hierstan-stanc: --O1
data {
#include data/exam.stan
  cov_matrix[3] R;
}
transformed data {
#include transformed_data/exam_standardise.stan
#include transformed_data/exam_likelihood.stan
  matrix[3, 3] L_R = cholesky_decompose(R);
}
parameters {
#include parameters/exam.stan
  // Cholesky factor of Sigma on the sampler's scale
  cholesky_factor_cov[3] L_std;
}
transformed parameters {
  matrix[J, 3] a_std = rep_matrix(gamma_std', J) + (L_std * z)';
#include transformed_parameters/exam_original_scale.stan
  // on the original scale (rows divided by d: a linear map, constant Jacobian)
  matrix[3, 3] L_Sigma = diag_pre_multiply(inv(d), L_std);
}
model {
  L_Sigma ~ inv_wishart_cholesky(3, L_R);
#include model/exam_priors.stan
#include model/exam_likelihood.stan
}
generated quantities {
  cov_matrix[3] Sigma = multiply_lower_tri_self_transpose(L_Sigma);
  vector[3] tau = sqrt(diagonal(Sigma));
  corr_matrix[3] Omega = quad_form_diag(Sigma, inv(tau));
#include generated_quantities/exam.stan
}
