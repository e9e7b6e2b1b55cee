// G-group regression, hierarchical: w_g ~ multi_normal(mu_w, diag(tau) Omega diag(tau)),
// Omega ~ LKJ(lkj_eta) (docs/models.md §3). The per-group data flag `centered` picks each group's
// parameterization, so one compiled program serves all: non-centered through the Cholesky factor
// of Omega (few rows in the group), or centered, sampling w_g itself (many rows: the data pin w_g).
functions {
#include functions/multigroup.stan
#include functions/centering.stan
}
data {
#include data/multigroup.stan
  // prior scales: mu_w ~ normal(0, mu_w_scale), tau ~ half-normal(0, tau_scale),
  // Omega ~ LKJ(lkj_eta)
  real<lower=0> mu_w_scale;
  real<lower=0> tau_scale;
  real<lower=0> lkj_eta;
  // per group: 1 = sample its w_g itself (centered), 0 = its standard-normal z_g (non-centered)
  array[G] int<lower=0, upper=1> centered;
}
transformed data {
#include transformed_data/multigroup_sufficient.stan
#include transformed_data/centering.stan
}
parameters {
  // mu_w itself when no group is centered; otherwise its standardised deviation from the
  // centered groups' mean (below)
  vector[m] z_mu;
  vector<lower=0>[m] tau;
  cholesky_factor_corr[m] L_Omega;
  // row g: group g's coefficients w_g themselves where centered[g] = 1, its standard-normal
  // z_g otherwise
  matrix[G, m] z_w;
  real<lower=0> sigma;
}
transformed parameters {
  vector[m] mu_w;
  // group coefficients: w_g = mu_w + diag_pre_multiply(tau, L_Omega) * z_g when non-centered
  matrix[G, m] w;
  {
    matrix[m, m] L_Sigma = diag_pre_multiply(tau, L_Omega);
    // Given the centered groups' w (which their rows pin), mu_w is about normal(their mean,
    // Sigma / their number): a scale that shrinks with Sigma. Sampled directly, that is a funnel
    // in (mu_w, Sigma), and it diverges where few groups leave Sigma near singular (2 groups span
    // one direction only); z_mu, its deviation in units of that scale, is not.
    mu_w = z_mu;
    if (size(c_idx) > 0) {
      mu_w = (rep_row_vector(1.0 / size(c_idx), size(c_idx)) * z_w[c_idx])'
             + L_Sigma * z_mu / sqrt(size(c_idx));
    }
    w[c_idx] = z_w[c_idx];
    w[nc_idx] = rep_matrix(mu_w', size(nc_idx)) + z_w[nc_idx] * L_Sigma';
  }
}
model {
  // population of coefficient vectors; the priors are on mu_w, so z_mu -> mu_w needs its
  // Jacobian, log det(L_Sigma) = sum(log(tau)) + sum(log(diag(L_Omega))) (plus a constant)
  mu_w ~ normal(0, mu_w_scale);
  if (size(c_idx) > 0) {
    target += sum(log(tau)) + sum(log(diagonal(L_Omega)));
  }
  tau ~ normal(0, tau_scale);
  L_Omega ~ lkj_corr_cholesky(lkj_eta);
  // group coefficients (a loop over the centered groups, not rows)
  if (size(c_idx) > 0) {
    matrix[m, m] L_Sigma = diag_pre_multiply(tau, L_Omega);
    for (g in c_idx) {
      z_w[g] ~ multi_normal_cholesky(mu_w, L_Sigma);
    }
  }
  to_vector(z_w[nc_idx]) ~ std_normal();
#include model/multigroup_priors.stan
#include model/multigroup_likelihood.stan
}
generated quantities {
  // correlation of the coefficients across groups (a plain matrix: rounding must not reject it)
  matrix[m, m] Omega = multiply_lower_tri_self_transpose(L_Omega);
#include generated_quantities/multigroup.stan
}
