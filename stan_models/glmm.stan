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
  row_vector fixed_of_terms(vector b, array[] int term_fixed, int start, int P) {
    row_vector[P] m = rep_row_vector(0, P);
    for (t in 1:P) {
      if (term_fixed[start + t - 1] > 0) m[t] = b[term_fixed[start + t - 1]];
    }
    return m;
  }
  // each cell's linear predictor
  vector linear_predictor(vector offsets, matrix X, vector beta, vector alpha, matrix Z, vector u,
                          array[,] int effect_of) {
    vector[rows(X)] eta = offsets + X * beta;
    if (size(alpha) > 0) eta += alpha[1];
    for (q in 1:cols(Z)) eta += Z[:, q] .* u[effect_of[q]];
    return eta;
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
  // 1: the level's coefficients are sampled themselves (its effects plus the fixed effect of the
  // same column, term_fixed, where there is one: hierarchical centering), 0: standardised deviates
  array[sum(J)] int<lower=0, upper=1> centered;
  array[sum(P)] int<lower=0, upper=has_intercept + K> term_fixed;
  // priors (docs/models.md §7): normal intercept and coefficients, exponential sds with means
  // sd_scale, LKJ(lkj_eta) correlations, exponential residual sd (gaussian) and reciprocal
  // dispersion (negative binomial)
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
  // each cell's effect for column q of Z, as a position in the effects
  array[Q, N] int effect_of;
  for (b in 1:B) {
    for (t in 1:P[b]) {
      for (n in 1:N) {
        if (level[n, b] > J[b]) reject("level[", n, ", ", b, "] = ", level[n, b], " exceeds J[", b, "] = ", J[b]);
        effect_of[start_t[b] + t - 1, n] = start_u[b] + (level[n, b] - 1) * P[b] + t - 1;
      }
    }
  }
  vector[sum(J)] w_c = to_vector(centered);
  // positions in the effects of the non-centered levels' deviates
  int n_nc_effects = 0;
  for (b in 1:B) {
    for (j in 1:J[b]) n_nc_effects += (1 - centered[start_l[b] + j - 1]) * P[b];
  }
  array[n_nc_effects] int nc_pos;
  {
    int k = 1;
    for (b in 1:B) {
      for (j in 1:J[b]) {
        if (!centered[start_l[b] + j - 1]) {
          for (t in 1:P[b]) {
            nc_pos[k] = start_u[b] + (j - 1) * P[b] + t - 1;
            k += 1;
          }
        }
      }
    }
  }
  real total_ss = sum(y_ss);
  real n_rows = sum(weight);
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
  for (c in 1:B) {
    int p = P[c];
    int j = J[c];
    matrix[p, p] L = cholesky_corr(block_cpc(cpc, start_c[c], p), p);
    matrix[j, p] zb = to_matrix(segment(z, start_u[c], j * p), p, j)';
    // a non-centered level's effects: diag(tau) L times its deviates; a centered level's: its
    // coefficients less the fixed effects
    matrix[j, p] nc = zb * diag_pre_multiply(segment(tau, start_t[c], p), L)';
    matrix[j, p] ce = zb - rep_matrix(fixed_of_terms(b, term_fixed, start_t[c], p), j);
    vector[j] wc = segment(w_c, start_l[c], j);
    u[start_u[c]:(start_u[c] + j * p - 1)] = to_vector((diag_pre_multiply(wc, ce) + diag_pre_multiply(1 - wc, nc))');
  }
}
model {
  alpha ~ normal(intercept_location, intercept_scale);
  beta ~ normal(0, coef_scale);
  tau ~ exponential(inv(sd_scale));
  sigma ~ exponential(inv(sigma_scale));
  phi ~ exponential(inv(phi_scale));
  z[nc_pos] ~ std_normal();
  for (c in 1:B) {
    int p = P[c];
    matrix[p, p] L = cholesky_corr(block_cpc(cpc, start_c[c], p), p);
    if (p > 1) {
      target += lkj_corr_cholesky_lpdf(L | lkj_eta) + cholesky_corr_log_jacobian(L);
    }
    // centered levels: multi_normal_cholesky(0, diag(tau) L), constants dropped
    int n_c = 0;
    for (j in 1:J[c]) n_c += centered[start_l[c] + j - 1];
    if (n_c > 0) {
      matrix[p, p] scale_L = diag_pre_multiply(segment(tau, start_t[c], p), L);
      vector[p] m = fixed_of_terms(b, term_fixed, start_t[c], p)';
      matrix[p, n_c] effects;
      int k = 1;
      for (j in 1:J[c]) {
        if (centered[start_l[c] + j - 1]) {
          effects[:, k] = segment(z, start_u[c] + (j - 1) * p, p) - m;
          k += 1;
        }
      }
      target += -0.5 * dot_self(to_vector(mdivide_left_tri_low(scale_L, effects)))
                - n_c * sum(log(diagonal(scale_L)));
    }
  }
  if (!prior_only) {
    vector[N] eta = linear_predictor(offsets, X, beta, alpha, Z, u, effect_of);
    if (likelihood == 1) {
      // sum over rows of normal(y | eta, sigma), from each cell's count, mean and squared deviations
      target += -0.5 * (total_ss + dot_product(weight, square(y_mean - eta))) / square(sigma[1])
                - n_rows * log(sigma[1]);
    } else if (likelihood <= 3) {
      y_count ~ binomial_logit(trials, eta);
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
    vector[N] eta = linear_predictor(offsets, X, beta, alpha, Z, u, effect_of);
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
