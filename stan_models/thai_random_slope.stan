// Thai repeat, school intercepts and school pped slopes (docs/models.md §4): independent normals,
// or with `correlated` a bivariate normal with correlation Omega ~ LKJ(lkj_eta). Each school
// centered or non-centered by the data flag `centered`.
// Written for stanc's --O1 (whole-vector arithmetic on vectors stanc keeps as one autodiff node
// each: no indexed assignment to them, no scalar-times-data vectors): the marker below makes both
// engines compile it so.
// hierstan-stanc: --O1
functions {
#include functions/centering.stan
}
data {
#include data/thai.stan
  // 1 = (alpha_j, beta_j) ~ multi_normal((mu_alpha, mu_beta), diag(sigma) Omega diag(sigma)),
  // 0 = independent (Omega = I)
  int<lower=0, upper=1> correlated;
  real<lower=0> lkj_eta;
}
transformed data {
#include transformed_data/centering.stan
  int n_c = size(c_idx);
  int n_nc = size(nc_idx);
  // weights that pick each school's effects from the centered or the non-centered form
  vector[J] w_c = to_vector(centered);
  vector[J] w_nc = 1 - w_c;
  // pped_centre, with the centered schools' (unused) entries set to a non-centered school's, so
  // that their non-centered values, computed and weighted by 0, are finite wherever that school's is
  vector[J] c = pped_centre;
  if (n_nc > 0) c[c_idx] = rep_vector(pped_centre[nc_idx[1]], n_c);
  // the cells' likelihood: successes and trials as vectors, and its constant term
  vector[C] cell_y_real = to_vector(cell_y);
  vector[C] cell_n_real = to_vector(cell_n);
  real log_binomial_coefficients = sum(lchoose(cell_n, cell_y));
}
parameters {
  real mu_alpha;
  real<lower=0> sigma_alpha;
  real mu_beta;
  real<lower=0> sigma_beta;
  // school j's intercept and slope themselves where centered[j] = 1, otherwise standardised
  // deviates (see below)
  vector[J] z_alpha;
  vector[J] z_beta;
  // Cholesky factor of Omega (correlated only; 0 x 0 otherwise, so no output)
  cholesky_factor_corr[correlated ? 2 : 0] L_Omega;
}
transformed parameters {
  vector[J] alpha;
  vector[J] beta;
  if (n_nc == 0) {
    alpha = z_alpha;
    beta = z_beta;
  } else {
    // Non-centered schools, about each school's pped share c: the data pin down the school's
    // logit at c, alpha + c * beta, so that combination gets its own standard-normal deviation
    // (z_alpha) and beta, given it, the independent remainder (z_beta). With correlation rho,
    // alpha + c * beta has sd sd_at_c = sqrt(sigma_a^2 + 2 c rho sigma_a sigma_b + c^2 sigma_b^2)
    // and covariance rho sigma_a sigma_b + c sigma_b^2 with beta; beta's sd given it is
    // sigma_a sigma_b sqrt(1 - rho^2) / sd_at_c. So, with v = c sigma_b,
    //   beta  = mu_beta  + sigma_b ((rho sigma_a + v) z_alpha + sigma_a sqrt(1 - rho^2) z_beta) / sd_at_c
    //   alpha = mu_alpha + c mu_beta + sd_at_c z_alpha - c beta
    //         = mu_alpha + sigma_a ((sigma_a + rho v) z_alpha - sqrt(1 - rho^2) v z_beta) / sd_at_c.
    // The prior of (alpha, beta) is unchanged; c = 0 is the textbook form, whose sigma_beta mixes
    // ~3x slower on the full data. Computed for every school as whole vectors.
    vector[J] v = rep_vector(sigma_beta, J) .* c;
    vector[J] inv_sd;
    vector[J] alpha_nc;
    vector[J] beta_nc;
    if (correlated) {
      real rho = L_Omega[2, 1];
      real l22 = L_Omega[2, 2];
      inv_sd = inv_sqrt(square(sigma_alpha) + (2 * rho * sigma_alpha) * v + square(v));
      alpha_nc = mu_alpha + sigma_alpha * ((sigma_alpha + rho * v) .* z_alpha - l22 * v .* z_beta) .* inv_sd;
      beta_nc = mu_beta + sigma_beta * ((rho * sigma_alpha + v) .* z_alpha + (sigma_alpha * l22) * z_beta) .* inv_sd;
    } else {
      inv_sd = inv_sqrt(square(sigma_alpha) + square(v));
      alpha_nc = mu_alpha + sigma_alpha * (sigma_alpha * z_alpha - v .* z_beta) .* inv_sd;
      beta_nc = mu_beta + sigma_beta * (v .* z_alpha + sigma_alpha * z_beta) .* inv_sd;
    }
    if (n_c == 0) {
      alpha = alpha_nc;
      beta = beta_nc;
    } else {
      // exact either way: x * 1 + y * 0 = x for finite y
      alpha = w_c .* z_alpha + w_nc .* alpha_nc;
      beta = w_c .* z_beta + w_nc .* beta_nc;
    }
  }
}
model {
#include model/thai_priors_intercepts.stan
#include model/thai_priors_slopes.stan
  // an empty set still checks its scale, which can underflow to 0 in warmup
  if (n_c > 0) z_alpha[c_idx] ~ normal(mu_alpha, sigma_alpha);
  if (correlated) {
    L_Omega ~ lkj_corr_cholesky(lkj_eta);
    // a centered school's slope given its intercept
    if (n_c > 0) {
      z_beta[c_idx] ~ normal(mu_beta + sigma_beta * L_Omega[2, 1] * (z_alpha[c_idx] - mu_alpha) / sigma_alpha,
                             sigma_beta * L_Omega[2, 2]);
    }
  } else if (n_c > 0) {
    z_beta[c_idx] ~ normal(mu_beta, sigma_beta);
  }
  if (n_c == 0) {
    z_alpha ~ std_normal();
    z_beta ~ std_normal();
  } else {
    z_alpha[nc_idx] ~ std_normal();
    z_beta[nc_idx] ~ std_normal();
  }
  if (!prior_only) {
    if (use_cells) {
      vector[C] eta = alpha[cell_school] + beta[cell_school] .* cell_pped;
      // cell_y ~ binomial_logit(cell_n, eta), as sum(y eta - n log(1 + exp(eta))): one log1p_exp
      // per cell where Stan's takes two log-sigmoids. Its constant, the binomial coefficients, is
      // kept where Stan keeps constants: the ratio below is 1 there and 0 where `~` and the
      // _lupdf functions drop them (sampling), as a data-only _lupdf is then 0.
      target += dot_product(cell_y_real, eta) - dot_product(cell_n_real, log1p_exp(eta))
                + std_normal_lupdf(0) / std_normal_lpdf(0) * log_binomial_coefficients;
    } else {
      y ~ bernoulli_logit(alpha[school] + beta[school] .* pped);
    }
  }
}
generated quantities {
  // the correlation matrix of (alpha_j, beta_j) (correlated only)
  matrix[correlated ? 2 : 0, correlated ? 2 : 0] Omega;
  if (correlated) Omega = multiply_lower_tri_self_transpose(L_Omega);
  // pointwise log-likelihood (PSIS-LOO) and replicated outcomes, pupil by pupil; pointwise = 0
  // leaves them empty (writing out 2 N values per draw can cost more than the sampling)
  vector[pointwise ? N : 0] log_lik;
  array[pointwise ? N : 0] int y_rep;
  if (pointwise) {
    vector[N] eta = alpha[school] + beta[school] .* pped;
#include generated_quantities/thai.stan
  }
}
