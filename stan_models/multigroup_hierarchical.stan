// G-group regression, hierarchical: w_g ~ multi_normal(mu_w, diag(tau) Omega diag(tau)),
// Omega ~ LKJ(lkj_eta) (docs/models.md §3). The data flag `centered` picks the parameterization, so one
// compiled program serves both: non-centered through the Cholesky factor of Omega (few rows per
// group), or centered, sampling w itself (many rows per group: the data pin every w_g).
functions {
#include multigroup_functions.stan
}
data {
#include multigroup_data.stan
  // prior scales: mu_w ~ normal(0, mu_w_scale), tau ~ half-normal(0, tau_scale),
  // Omega ~ LKJ(lkj_eta)
  real<lower=0> mu_w_scale;
  real<lower=0> tau_scale;
  real<lower=0> lkj_eta;
  // 0 = non-centered (w_raw holds standard-normal z_g), 1 = centered (w_raw holds w itself)
  int<lower=0, upper=1> centered;
}
transformed data {
#include multigroup_sufficient.stan
}
parameters {
  vector[m] mu_w;
  vector<lower=0>[m] tau;
  cholesky_factor_corr[m] L_Omega;
  // group coefficients, row g for group g, in the parameterization chosen by `centered`
  matrix[G, m] w_raw;
  real<lower=0> sigma;
}
transformed parameters {
  // group coefficients: w_g = mu_w + diag_pre_multiply(tau, L_Omega) * z_g when non-centered
  matrix[G, m] w;
  if (centered) {
    w = w_raw;
  } else {
    w = rep_matrix(mu_w', G) + w_raw * diag_pre_multiply(tau, L_Omega)';
  }
}
model {
  // population of coefficient vectors
  mu_w ~ normal(0, mu_w_scale);
  tau ~ normal(0, tau_scale);
  L_Omega ~ lkj_corr_cholesky(lkj_eta);
  // group coefficients (a loop over groups, not rows)
  if (centered) {
    matrix[m, m] L_Sigma = diag_pre_multiply(tau, L_Omega);
    for (g in 1:G) {
      w_raw[g] ~ multi_normal_cholesky(mu_w, L_Sigma);
    }
  } else {
    to_vector(w_raw) ~ std_normal();
  }
#include multigroup_sigma_prior.stan
#include multigroup_likelihood.stan
}
generated quantities {
  // correlation of the coefficients across groups (a plain matrix: rounding must not reject it)
  matrix[m, m] Omega = multiply_lower_tri_self_transpose(L_Omega);
#include multigroup_generated.stan
}
