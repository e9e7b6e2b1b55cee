// Exam scores (Goldstein et al. 1993; BUGS "Schools"), docs/models.md §5, `lkj`: school coefficients
// (intercept, lrt, vr1) ~ multi_normal(gamma, diag(tau) Omega diag(tau)), Omega ~ LKJ(lkj_eta),
// tau ~ half-normal(0, tau_scale), non-centered through the Cholesky factor of Omega;
// heteroscedastic residuals, log(1 / s^2) = theta + phi * lrt.
// Written for stanc's --O1 (the likelihood's vectors each one autodiff node): the marker
// below makes both engines compile it so.
// hierstan-stanc: --O1
data {
#include data/exam.stan
  real<lower=0> tau_scale;
  real<lower=0> lkj_eta;
}
transformed data {
#include transformed_data/exam_standardise.stan
#include transformed_data/exam_likelihood.stan
}
parameters {
#include parameters/exam.stan
  vector<lower=0>[3] tau_std;
  cholesky_factor_corr[3] L_Omega;
}
transformed parameters {
  matrix[J, 3] a_std = rep_matrix(gamma_std', J) + (diag_pre_multiply(tau_std, L_Omega) * z)';
#include transformed_parameters/exam_original_scale.stan
  vector[3] tau = tau_std ./ d;
}
model {
  tau ~ normal(0, tau_scale);
  L_Omega ~ lkj_corr_cholesky(lkj_eta);
#include model/exam_priors.stan
#include model/exam_likelihood.stan
}
generated quantities {
  corr_matrix[3] Omega = multiply_lower_tri_self_transpose(L_Omega);
  cov_matrix[3] Sigma = quad_form_diag(Omega, tau);
#include generated_quantities/exam.stan
}
