// Minnesota radon, varying intercept and slope (docs/models.md §2): independent normals, or with
// `correlated` a bivariate normal with correlation Omega ~ LKJ(lkj_eta); each county's intercept
// and slope centered or non-centered through the data flags `centered` and `centered_slope`.
functions {
#include functions/centering.stan
  // each county's standardised deviate of an effect sampled as z: (z - mu) / sigma where
  // centered (c_idx), z itself where not (nc_idx)
  vector deviates(vector z, real mu, real sigma, array[] int c_idx, array[] int nc_idx) {
    vector[rows(z)] e;
    e[c_idx] = (z[c_idx] - mu) / sigma;
    e[nc_idx] = z[nc_idx];
    return e;
  }
}
data {
#include data/radon.stan
  // per county: 1 = sample its intercept (slope) itself (centered), 0 = its standardised
  // deviation; apart, as a county's rows can pin its intercept but say little about its slope
  array[J] int<lower=0, upper=1> centered;
  array[J] int<lower=0, upper=1> centered_slope;
  // 1 = (alpha_j, beta_j) ~ multi_normal((mu_alpha, mu_beta), diag(sigma) Omega diag(sigma)),
  // 0 = independent (Omega = I)
  int<lower=0, upper=1> correlated;
  real<lower=0> lkj_eta;
}
transformed data {
#include transformed_data/centering.stan
  array[sum(centered_slope)] int c_slope = which_equal(centered_slope, 1);
  array[J - sum(centered_slope)] int nc_slope = which_equal(centered_slope, 0);
}
parameters {
  real<lower=0> sigma_y;
  real mu_alpha;
  real<lower=0> sigma_alpha;
  real mu_beta;
  real<lower=0> sigma_beta;
  // county j's intercept (slope) itself where centered[j] = 1 (centered_slope[j] = 1), its
  // standardised deviate otherwise
  vector[J] z_alpha;
  vector[J] z_beta;
  // Cholesky factor of Omega (correlated only; 0 x 0 otherwise, so no output)
  cholesky_factor_corr[correlated ? 2 : 0] L_Omega;
}
transformed parameters {
  // county intercepts and slopes
  vector[J] alpha;
  vector[J] beta;
  alpha[c_idx] = z_alpha[c_idx];
  beta[c_slope] = z_beta[c_slope];
  alpha[nc_idx] = mu_alpha + sigma_alpha * z_alpha[nc_idx];
  if (correlated) {
    // the slope given the intercept's standardised deviate e: mean mu_beta + sigma_beta * rho * e,
    // sd sigma_beta * sqrt(1 - rho^2) (rho, sqrt(1 - rho^2): L_Omega's second row); a county can
    // have either effect centered, as when independent
    vector[J] e = deviates(z_alpha, mu_alpha, sigma_alpha, c_idx, nc_idx);
    beta[nc_slope] = mu_beta + sigma_beta * (L_Omega[2, 1] * e[nc_slope] + L_Omega[2, 2] * z_beta[nc_slope]);
  } else {
    // kept apart so that the independent form's arithmetic (and its draws) is what it was
    beta[nc_slope] = mu_beta + sigma_beta * z_beta[nc_slope];
  }
}
model {
#include model/radon_priors.stan
#include model/radon_priors_intercept_mean.stan
#include model/radon_priors_intercept_scale.stan
  mu_beta ~ normal(0, coef_scale);
  sigma_beta ~ cauchy(0, hyper_scale);
  // county intercepts and slopes
  // an empty set still checks its scale, which can underflow to 0 in warmup
  if (size(c_idx) > 0) z_alpha[c_idx] ~ normal(mu_alpha, sigma_alpha);
  if (correlated) {
    L_Omega ~ lkj_corr_cholesky(lkj_eta);
    if (size(c_slope) > 0) {
      vector[J] e = deviates(z_alpha, mu_alpha, sigma_alpha, c_idx, nc_idx);
      z_beta[c_slope] ~ normal(mu_beta + sigma_beta * L_Omega[2, 1] * e[c_slope], sigma_beta * L_Omega[2, 2]);
    }
  } else if (size(c_slope) > 0) {
    z_beta[c_slope] ~ normal(mu_beta, sigma_beta);
  }
  z_alpha[nc_idx] ~ std_normal();
  z_beta[nc_slope] ~ std_normal();
  {
    vector[J] a = alpha;
    vector[J] b = beta;
#include model/radon_likelihood.stan
  }
}
generated quantities {
  // the correlation matrix of (alpha_j, beta_j) (correlated only)
  matrix[correlated ? 2 : 0, correlated ? 2 : 0] Omega;
  if (correlated) Omega = multiply_lower_tri_self_transpose(L_Omega);
  // per-house output; pointwise = 0 leaves it empty (it can cost more than the sampling)
  vector[pointwise ? N : 0] log_lik;
  array[pointwise ? N : 0] real y_rep;
  if (pointwise) {
    vector[J] a = alpha;
    vector[J] b = beta;
#include generated_quantities/radon.stan
  }
}
