// A generalised linear mixed model whose formula is data (docs/models.md §7, hierstan/formula.py):
// one compiled program serves every formula and likelihood, as rstanarm's stan_glmer does. The
// fixed-effects matrix, the group terms block by block (a block's terms are correlated), each
// level's parameterization and every prior are data.
functions {
  // The Cholesky factor of a correlation matrix from its canonical partial correlations, row by
  // row below the diagonal (Stan's own transform of cholesky_factor_corr, written out so that
  // blocks of different sizes share one parameter vector).
  // block b's canonical partial correlations (none for a block of one term)
  vector block_cpc(vector cpc, int start, int P) {
    if (P == 1) return rep_vector(0, 0);
    return segment(cpc, start, (P * (P - 1)) %/% 2);
  }
  matrix cholesky_corr(vector cpc, int P) {
    matrix[P, P] L = rep_matrix(0, P, P);
    int k = 1;
    L[1, 1] = 1;
    for (i in 2:P) {
      real remaining = 1;
      for (j in 1:(i - 1)) {
        L[i, j] = cpc[k] * sqrt(remaining);
        remaining -= square(L[i, j]);
        k += 1;
      }
      L[i, i] = sqrt(remaining);
    }
    return L;
  }
  // the fixed effects of a block's terms (0 for a term without one)
  vector fixed_of_terms(vector b, array[] int term_fixed, int start, int P) {
    vector[P] m = rep_vector(0, P);
    for (t in 1:P) {
      if (term_fixed[start + t - 1] > 0) m[t] = b[term_fixed[start + t - 1]];
    }
    return m;
  }
  // the scaled Cholesky factor diag(tau) L of block c's effects
  matrix block_scale(vector tau, vector cpc, int start_t, int start_c, int P) {
    return diag_pre_multiply(segment(tau, start_t, P), cholesky_corr(block_cpc(cpc, start_c, P), P));
  }
  // each cell's linear predictor, as one autodiff node: the row of the full design D = [1, X, Z]
  // times the coefficients it meets, (alpha, beta, u)[coef_of] (coef_of: cells x columns)
  vector linear_predictor(vector offsets, int has_offset, matrix D, vector alpha, vector beta,
                          vector u, array[] int coef_of) {
    vector[rows(D)] eta = rows_dot_product(D, to_matrix(append_row(append_row(alpha, beta), u)[coef_of],
                                                          rows(D), cols(D)));
    return has_offset ? eta + offsets : eta;
  }
  // log |d L / d cpc|: each entry right of a row's first scales its partial correlation by the
  // square root of what the row's earlier entries leave
  real cholesky_corr_log_jacobian(matrix L) {
    real log_j = 0;
    for (i in 3:rows(L)) {
      for (j in 2:(i - 1)) {
        log_j += 0.5 * log1m(dot_self(L[i, 1:(j - 1)]));
      }
    }
    return log_j;
  }
}
data {
  // cells: rows of the data with the same design, merged where the likelihood allows
  int<lower=1> N;
  // 1 gaussian, 2 bernoulli, 3 binomial (logit); 4 poisson, 5 negative binomial (log)
  int<lower=1, upper=5> likelihood;
  // fixed effects: the intercept (if any) and K more columns, centred where there is an intercept
  int<lower=0, upper=1> has_intercept;
  int<lower=0> K;
  matrix[N, K] X;
  vector[K] X_mean;
  vector[N] offsets;
  // outcome: gaussian cells by row count (weight), mean and sum of squared deviations; poisson
  // cells by count summed over `weight` rows; binomial (and bernoulli) by successes of trials
  vector<lower=0>[N] weight;
  vector[likelihood == 1 ? N : 0] y_mean;
  vector<lower=0>[likelihood == 1 ? N : 0] y_ss;
  array[likelihood == 1 ? 0 : N] int<lower=0> y_count;
  array[likelihood == 2 || likelihood == 3 ? N : 0] int<lower=0> trials;
  // group terms: B blocks, block b with J[b] levels and P[b] correlated terms; Z holds each
  // cell's term values block by block, level[n, b] its level in block b
  int<lower=0> B;
  array[B] int<lower=1> J;
  array[B] int<lower=1> P;
  matrix[N, sum(P)] Z;
  array[N, B] int<lower=1> level;
  // per level, how many of its block's leading terms are sampled centered: their coefficients
  // themselves (the effects plus the fixed effect of the same column, term_fixed, where there is
  // one: hierarchical centering); the other terms are standardised deviates given those
  array[sum(J)] int<lower=0> centered;
  array[sum(P)] int<lower=0, upper=has_intercept + K> term_fixed;
  // per level of a block of two terms led by the intercept, its rows' mean of the second term's
  // values (0 elsewhere): its non-centered effects are sampled about it (see below)
  vector[sum(J)] level_centre;
  // priors (docs/models.md §7): normal intercept and coefficients, sds with scales sd_scale,
  // LKJ(lkj_eta) correlations, residual sd (gaussian) with scale sigma_scale, exponential
  // reciprocal dispersion (negative binomial) with mean phi_scale. The intercept's prior is on
  // the intercept at X = X_mean, or at X = 0 (intercept_at_zero). The sds' and sigma's priors:
  // 1 exponential (the scale its mean), 2 half-normal, 3 half-Cauchy
  int<lower=0, upper=1> intercept_at_zero;
  int<lower=1, upper=3> scale_prior;
  real intercept_location;
  real<lower=0> intercept_scale;
  vector<lower=0>[K] coef_scale;
  vector<lower=0>[sum(P)] sd_scale;
  real<lower=0> lkj_eta;
  real<lower=0> sigma_scale;
  real<lower=0> phi_scale;
  int<lower=0, upper=1> prior_only;
  // pointwise output (log_lik, y_rep per row of the data: R rows, each in its cell)
  int<lower=0, upper=1> pointwise;
  int<lower=0> R;
  array[R] int<lower=1, upper=N> row_cell;
  vector[likelihood == 1 ? R : 0] y_row;
  array[likelihood == 1 ? 0 : R] int<lower=0> y_row_count;
  array[likelihood == 2 || likelihood == 3 ? R : 0] int<lower=0> row_trials;
}
transformed data {
  int Q = sum(P);
  int n_effects = 0;
  int n_cpc = 0;
  // where each block starts in the effects, the sds, the correlations and the levels
  array[B] int start_u;
  array[B] int start_t;
  array[B] int start_c;
  array[B] int start_l;
  for (b in 1:B) {
    start_u[b] = n_effects + 1;
    start_c[b] = n_cpc + 1;
    start_t[b] = b == 1 ? 1 : start_t[b - 1] + P[b - 1];
    start_l[b] = b == 1 ? 1 : start_l[b - 1] + J[b - 1];
    n_effects += J[b] * P[b];
    n_cpc += (P[b] * (P[b] - 1)) %/% 2;
  }
  // the full design D = [1, X, Z] and, for each cell and column, the coefficient it meets as a
  // position in (alpha, beta, u), column-major as the program reads it (an N x columns matrix)
  int n_cols = has_intercept + K + Q;
  matrix[N, n_cols] D = append_col(append_col(rep_matrix(1, N, has_intercept), X), Z);
  array[N * n_cols] int coef_of;
  int has_offset = max(abs(offsets)) > 0;
  for (n in 1:N) {
    for (f in 1:(has_intercept + K)) coef_of[(f - 1) * N + n] = f;
    for (b in 1:B) {
      if (level[n, b] > J[b]) reject("level[", n, ", ", b, "] = ", level[n, b], " exceeds J[", b, "] = ", J[b]);
      for (t in 1:P[b]) {
        coef_of[(has_intercept + K + start_t[b] + t - 2) * N + n]
          = has_intercept + K + start_u[b] + (level[n, b] - 1) * P[b] + t - 1;
      }
    }
  }
  // the levels grouped by block and by their number of centered terms k (0 ... P[b]): group g's
  // effects sit at pos[g_start[g]:...], level after level, as z lays them out
  int G = Q + B;
  array[G] int g_block;
  array[G] int g_k;
  array[G] int g_n;
  array[G] int g_start;
  array[n_effects] int pos;
  // group g's levels (positions in the levels, as centered and level_centre index them)
  array[sum(J)] int g_levels;
  array[G] int g_level_start;
  // positions in z of the standardised deviates
  int n_nc_effects = 0;
  for (b in 1:B) {
    for (j in 1:J[b]) {
      int k = centered[start_l[b] + j - 1];
      if (k > P[b]) reject("centered[", start_l[b] + j - 1, "] = ", k, " exceeds P[", b, "] = ", P[b]);
      n_nc_effects += P[b] - k;
    }
  }
  array[n_nc_effects] int nc_pos;
  {
    int g = 1;
    int at = 1;
    int nc = 1;
    int at_level = 1;
    for (b in 1:B) {
      for (k in 0:P[b]) {
        g_block[g] = b;
        g_k[g] = k;
        g_start[g] = at;
        g_level_start[g] = at_level;
        g_n[g] = 0;
        for (j in 1:J[b]) {
          if (centered[start_l[b] + j - 1] == k) {
            g_levels[at_level] = start_l[b] + j - 1;
            at_level += 1;
            for (t in 1:P[b]) {
              pos[at] = start_u[b] + (j - 1) * P[b] + t - 1;
              if (t > k) {
                nc_pos[nc] = pos[at];
                nc += 1;
              }
              at += 1;
            }
            g_n[g] += 1;
          }
        }
        g += 1;
      }
    }
  }
  real total_ss = sum(y_ss);
  real n_rows = sum(weight);
  vector[likelihood == 2 || likelihood == 3 ? N : 0] y_real;
  vector[likelihood == 2 || likelihood == 3 ? N : 0] trials_real = to_vector(trials);
  if (likelihood == 2 || likelihood == 3) y_real = to_vector(y_count);
  vector[likelihood == 4 ? N : 0] log_weight;
  if (likelihood == 4) log_weight = log(weight);
}
parameters {
  vector[has_intercept] alpha;
  vector[K] beta;
  vector<lower=0>[Q] tau;
  vector<lower=-1, upper=1>[n_cpc] cpc;
  // the levels' effects where centered, else their standardised deviates, block by block and
  // level by level
  vector[n_effects] z;
  vector<lower=0>[likelihood == 1 ? 1 : 0] sigma;
  vector<lower=0>[likelihood == 5 ? 1 : 0] phi;
}
transformed parameters {
  // the fixed effects on the data's scale: the intercept at X = 0
  vector[has_intercept + K] b;
  // every level's effects, laid out as z
  vector[n_effects] u;
  if (has_intercept) b[1] = alpha[1] - dot_product(X_mean, beta);
  b[(has_intercept + 1):(has_intercept + K)] = beta;
  // a level's effects, from its first k terms' coefficients (centered: less the fixed effects)
  // and its other terms' deviates: with A = diag(tau) L split after row k, the effects are
  // A e for e ~ normal(0, I), so the first k are A_SS e_S and the others A_TS e_S + A_TT e_T
  for (g in 1:G) {
    int c = g_block[g];
    int p = P[c];
    int k = g_k[g];
    int n = g_n[g];
    if (n > 0) {
      matrix[p, p] A = block_scale(tau, cpc, start_t[c], start_c[c], p);
      matrix[p, n] E = to_matrix(z[pos[g_start[g]:(g_start[g] + n * p - 1)]], p, n);
      matrix[p, n] U;
      if (k == 0 && p == 2) {
        // About each level's centre c (its rows' mean of the second term): the data pin down the
        // level's effect at c, u_1 + c u_2, so that combination gets the first deviate and u_2,
        // given it, the second. With s_1, s_2 the sds, rho the correlation and v = c s_2, u_1 + c u_2
        // has sd d = sqrt(s_1^2 + 2 rho s_1 v + v^2); then
        //   u_2 = s_2 ((rho s_1 + v) e_1 + s_1 sqrt(1 - rho^2) e_2) / d,  u_1 = d e_1 - c u_2.
        // The effects' prior is unchanged (c = 0 is A e); the Thai program's form, whose slope
        // sd mixes ~3x faster on the Thai data than at c = 0.
        // as few autodiff nodes as possible: U' = diag(1 / d) [e_1, e_2, c e_1, c e_2] F, with F
        // the 4 x 2 matrix of the sds and the correlation
        real s_1 = tau[start_t[c]];
        real s_2 = tau[start_t[c] + 1];
        real rho = cpc[start_c[c]];
        real s_12 = s_1 * s_2 * sqrt(1 - square(rho));
        vector[n] centre = level_centre[g_levels[g_level_start[g]:(g_level_start[g] + n - 1)]];
        matrix[n, 2] deviates = E';
        matrix[4, 2] F = [[square(s_1), rho * s_1 * s_2], [0, s_12], [rho * s_1 * s_2, square(s_2)], [-s_12, 0]];
        vector[n] inv_d = inv_sqrt(append_col(append_col(rep_vector(1, n), centre), square(centre))
                                   * [square(s_1), 2 * rho * s_1 * s_2, square(s_2)]');
        U = diag_pre_multiply(inv_d, append_col(deviates, diag_pre_multiply(centre, deviates)) * F)';
      } else if (k == 0) {
        U = A * E;
      } else {
        U[1:k] = E[1:k] - rep_matrix(fixed_of_terms(b, term_fixed, start_t[c], p)[1:k], n);
        if (k < p) {
          U[(k + 1):p] = A[(k + 1):p, 1:k] * mdivide_left_tri_low(A[1:k, 1:k], U[1:k])
                         + A[(k + 1):p, (k + 1):p] * E[(k + 1):p];
        }
      }
      u[pos[g_start[g]:(g_start[g] + n * p - 1)]] = to_vector(U);
    }
  }
}
model {
  // b[1] is alpha less a function of beta: a shift with unit Jacobian
  if (intercept_at_zero) b[1:has_intercept] ~ normal(intercept_location, intercept_scale);
  else alpha ~ normal(intercept_location, intercept_scale);
  beta ~ normal(0, coef_scale);
  if (scale_prior == 1) {
    tau ~ exponential(inv(sd_scale));
    sigma ~ exponential(inv(sigma_scale));
  } else if (scale_prior == 2) {
    tau ~ normal(0, sd_scale);
    sigma ~ normal(0, sigma_scale);
  } else {
    tau ~ cauchy(0, sd_scale);
    sigma ~ cauchy(0, sigma_scale);
  }
  phi ~ exponential(inv(phi_scale));
  z[nc_pos] ~ std_normal();
  for (c in 1:B) {
    if (P[c] > 1) {
      matrix[P[c], P[c]] L = cholesky_corr(block_cpc(cpc, start_c[c], P[c]), P[c]);
      target += lkj_corr_cholesky_lpdf(L | lkj_eta) + cholesky_corr_log_jacobian(L);
    }
  }
  // the centered terms' effects: normal(0, A_SS A_SS'), constants dropped
  for (g in 1:G) {
    int k = g_k[g];
    int n = g_n[g];
    if (n > 0 && k > 0) {
      int c = g_block[g];
      int p = P[c];
      matrix[k, k] A_SS = block_scale(tau, cpc, start_t[c], start_c[c], p)[1:k, 1:k];
      matrix[k, n] U_S = to_matrix(u[pos[g_start[g]:(g_start[g] + n * p - 1)]], p, n)[1:k];
      target += -0.5 * dot_self(to_vector(mdivide_left_tri_low(A_SS, U_S))) - n * sum(log(diagonal(A_SS)));
    }
  }
  if (!prior_only) {
    vector[N] eta = linear_predictor(offsets, has_offset, D, alpha, beta, u, coef_of);
    if (likelihood == 1) {
      // sum over rows of normal(y | eta, sigma), from each cell's count, mean and squared deviations
      target += -0.5 * (total_ss + dot_product(weight, square(y_mean - eta))) / square(sigma[1])
                - n_rows * log(sigma[1]);
    } else if (likelihood <= 3) {
      // binomial_logit(trials, eta) less its constant: one log1p_exp per cell
      target += dot_product(y_real, eta) - dot_product(trials_real, log1p_exp(eta));
    } else if (likelihood == 4) {
      y_count ~ poisson_log(log_weight + eta);
    } else {
      y_count ~ neg_binomial_2_log(eta, phi[1]);
    }
  }
}
generated quantities {
  // each block's correlations, lower triangle row by row
  vector[n_cpc] cor;
  vector[pointwise ? R : 0] log_lik;
  vector[pointwise ? R : 0] y_rep;
  if (pointwise) {
    vector[N] eta = linear_predictor(offsets, has_offset, D, alpha, beta, u, coef_of);
    vector[R] e = eta[row_cell];
    for (r in 1:R) {
      if (likelihood == 1) {
        log_lik[r] = normal_lpdf(y_row[r] | e[r], sigma[1]);
        y_rep[r] = normal_rng(e[r], sigma[1]);
      } else if (likelihood <= 3) {
        log_lik[r] = binomial_logit_lpmf(y_row_count[r] | row_trials[r], e[r]);
        y_rep[r] = binomial_rng(row_trials[r], inv_logit(e[r]));
      } else if (likelihood == 4) {
        log_lik[r] = poisson_log_lpmf(y_row_count[r] | e[r]);
        y_rep[r] = poisson_log_rng(e[r]);
      } else {
        log_lik[r] = neg_binomial_2_log_lpmf(y_row_count[r] | e[r], phi[1]);
        y_rep[r] = neg_binomial_2_log_rng(e[r], phi[1]);
      }
    }
  }
  for (c in 1:B) {
    int p = P[c];
    if (p > 1) {
      matrix[p, p] L = cholesky_corr(block_cpc(cpc, start_c[c], p), p);
      matrix[p, p] Omega = multiply_lower_tri_self_transpose(L);
      int k = start_c[c];
      for (i in 2:p) {
        for (j in 1:(i - 1)) {
          cor[k] = Omega[i, j];
          k += 1;
        }
      }
    }
  }
}
