// thai_random_slope.stan as of commit a82f351, includes expanded: the reference its rewrite is tested against
// (tests/integration/test_rewritten_programs.py)
// Thai repeat, school intercepts and school pped slopes (docs/models.md §4): independent normals,
// or with `correlated` a bivariate normal with correlation Omega ~ LKJ(lkj_eta). Each school
// centered or non-centered by the data flag `centered`.
functions {
  // positions j of flag with flag[j] == value, in increasing order (the groups sampled centered
  // or non-centered, from the per-group `centered` data flag)
  array[] int which_equal(array[] int flag, int value) {
    int n = 0;
    for (f in flag) {
      n += f == value;
    }
    array[n] int positions = rep_array(0, n);
    int k = 1;
    for (j in 1:size(flag)) {
      if (flag[j] == value) {
        positions[k] = j;
        k += 1;
      }
    }
    return positions;
  }
}
data {
  // pupils: outcome (repeated a class), school, the fixed-effect columns X (none; pped; or
  // sex, pped, msesc) and pped on its own for the varying slope
  int<lower=1> N;
  int<lower=1> J;
  array[N] int<lower=0, upper=1> y;
  array[N] int<lower=1, upper=J> school;
  int<lower=0> K;
  matrix[N, K] X;
  vector[N] pped;
  // cells: pupils of one school with the same covariate values share one linear predictor, so
  // their outcomes enter the likelihood only through n and the number of repeats (exact)
  int<lower=1> C;
  array[C] int<lower=1, upper=J> cell_school;
  matrix[C, K] cell_X;
  vector[C] cell_pped;
  array[C] int<lower=1> cell_n;
  array[C] int<lower=0> cell_y;
  // 1 = likelihood from the cells (O(cells) per gradient), 0 = pupil by pupil
  int<lower=0, upper=1> use_cells;
  // priors: coefficients normal(0, coef_scale), hyper-means normal(0, mean_scale),
  // hyper-scales half-normal(0, hyper_scale)
  real<lower=0> coef_scale;
  real<lower=0> mean_scale;
  real<lower=0> hyper_scale;
  // per school: 1 = sample its effects themselves (centered), 0 = their standardised deviations
  // (non-centered)
  array[J] int<lower=0, upper=1> centered;
  // random_slope, non-centered schools: the pped value about which each school's effects are
  // non-centered (its share of pped pupils; zeros for the textbook form; unused where centered)
  vector<lower=0, upper=1>[J] pped_centre;
  // 1 = generate per-pupil log_lik and y_rep, 0 = skip them
  int<lower=0, upper=1> pointwise;
  // 1 = ignore the likelihood (prior and prior-predictive draws)
  int<lower=0, upper=1> prior_only;
  // 1 = (alpha_j, beta_j) ~ multi_normal((mu_alpha, mu_beta), diag(sigma) Omega diag(sigma)),
  // 0 = independent (Omega = I)
  int<lower=0, upper=1> correlated;
  real<lower=0> lkj_eta;
}
transformed data {
  // groups whose effects are sampled centered (c_idx) and non-centered (nc_idx); needs
  // functions/centering.stan
  array[sum(centered)] int c_idx = which_equal(centered, 1);
  array[size(centered) - sum(centered)] int nc_idx = which_equal(centered, 0);
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
  alpha[c_idx] = z_alpha[c_idx];
  beta[c_idx] = z_beta[c_idx];
  if (size(nc_idx) > 0) {
    // Non-centered schools, about each school's pped share c: the data pin down the school's
    // logit at c, alpha + c * beta, so that combination gets its own standard-normal deviation
    // (z_alpha) and beta, given it, the independent remainder (z_beta). With correlation rho,
    // alpha + c * beta has sd sd_at_c = sqrt(sigma_a^2 + 2 c rho sigma_a sigma_b + c^2 sigma_b^2)
    // and covariance rho sigma_a sigma_b + c sigma_b^2 with beta; beta's sd given it is
    // sigma_a sigma_b sqrt(1 - rho^2) / sd_at_c. The prior of (alpha, beta) is unchanged; c = 0
    // is the textbook form, whose sigma_beta mixes ~3x slower on the full data.
    // Computed for every school (whole-vector arithmetic is cheaper than indexing each term),
    // kept for the non-centered ones.
    vector[J] sd_at_c;
    vector[J] beta_nc;
    if (correlated) {
      real rho = L_Omega[2, 1];
      sd_at_c = sqrt(square(sigma_alpha) + 2 * rho * sigma_alpha * sigma_beta * pped_centre
                     + square(sigma_beta * pped_centre));
      beta_nc = mu_beta + sigma_beta * ((rho * sigma_alpha + sigma_beta * pped_centre) .* z_alpha
                                        + sigma_alpha * L_Omega[2, 2] * z_beta) ./ sd_at_c;
    } else {
      // kept apart so that the independent form's arithmetic (and its draws) is what it was
      sd_at_c = sqrt(square(sigma_alpha) + square(sigma_beta * pped_centre));
      beta_nc = mu_beta + sigma_beta * (sigma_beta * pped_centre .* z_alpha + sigma_alpha * z_beta) ./ sd_at_c;
    }
    vector[J] alpha_nc
        = mu_alpha + pped_centre * mu_beta + sd_at_c .* z_alpha - pped_centre .* beta_nc;
    alpha[nc_idx] = alpha_nc[nc_idx];
    beta[nc_idx] = beta_nc[nc_idx];
  }
}
model {
  // population of the school intercepts (varying_intercept, random_slope)
  mu_alpha ~ normal(0, mean_scale);
  sigma_alpha ~ normal(0, hyper_scale);
  // population of the school pped slopes (random_slope, slope_only)
  mu_beta ~ normal(0, mean_scale);
  sigma_beta ~ normal(0, hyper_scale);
  // an empty set still checks its scale, which can underflow to 0 in warmup
  if (size(c_idx) > 0) z_alpha[c_idx] ~ normal(mu_alpha, sigma_alpha);
  if (correlated) {
    L_Omega ~ lkj_corr_cholesky(lkj_eta);
    // a centered school's slope given its intercept
    if (size(c_idx) > 0) {
      z_beta[c_idx] ~ normal(mu_beta + sigma_beta * L_Omega[2, 1] * (z_alpha[c_idx] - mu_alpha) / sigma_alpha,
                             sigma_beta * L_Omega[2, 2]);
    }
  } else if (size(c_idx) > 0) {
    z_beta[c_idx] ~ normal(mu_beta, sigma_beta);
  }
  z_alpha[nc_idx] ~ std_normal();
  z_beta[nc_idx] ~ std_normal();
  if (!prior_only) {
    if (use_cells) {
      cell_y ~ binomial_logit(cell_n, alpha[cell_school] + beta[cell_school] .* cell_pped);
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
    // from the pupils' linear predictor eta
    for (i in 1:N) {
      log_lik[i] = bernoulli_logit_lpmf(y[i] | eta[i]);
    }
    y_rep = bernoulli_logit_rng(eta);
  }
}
