// exam_bugs.stan as of commit a82f351, includes expanded: the reference its rewrite is tested against
// (tests/integration/test_rewritten_programs.py)
// Exam scores, docs/models.md §5, `bugs` (the published BUGS analysis): as exam_lkj.stan but
// Sigma^-1 ~ Wishart(3, R^-1), i.e. Sigma ~ inv_wishart(3, R), and normal(0, 100) coefficients.
data {
  // pupils: exam score, school, and the predictors on their original scales
  int<lower=1> N;
  int<lower=1> J;
  vector[N] y;
  array[N] int<lower=1, upper=J> school;
  // school-varying terms: intercept, lrt, vr1 (verbal-reasoning band 1 indicator)
  vector[N] lrt;
  vector[N] vr1;
  // fixed effects b1..b8: lrt^2, vr2, girl, boys' school, girls' school, CE, RC, other denomination
  matrix[N, 8] X;
  // 1 = the sampler works on centred and scaled predictors (results are reported on the
  // original scale either way), 0 = on the original scale, as the model is written
  int<lower=0, upper=1> standardise;
  // gamma, b, theta and phi ~ normal(0, coef_scale)
  real<lower=0> coef_scale;
  // 1 = generate per-row log_lik and y_rep, 0 = skip them
  int<lower=0, upper=1> pointwise;
  int<lower=0, upper=1> prior_only;
  cov_matrix[3] R;
}
transformed data {
  // lrt spans +-35 and lrt^2 reaches 1400: on those scales the coefficients differ by orders of
  // magnitude and NUTS needs deep trees. The sampler sees l = lrt / s_lrt and centred, scaled X;
  // the coefficients on the original scale are linear maps of the sampled ones (constant
  // Jacobian), so the priors (model/exam_priors.stan) are put on the original-scale quantities
  // directly.
  // lrt is not centred: that would mix the school intercepts with the school lrt slopes.
  real s_lrt = standardise ? sd(lrt) : 1;
  vector[N] l = lrt / s_lrt;
  vector[8] x_centre = rep_vector(0, 8);
  vector[8] x_scale = rep_vector(1, 8);
  if (standardise) {
    for (k in 1:8) {
      x_centre[k] = mean(X[:, k]);
      x_scale[k] = sd(X[:, k]);
    }
  }
  matrix[N, 8] X_std = (X - rep_matrix(x_centre', N)) ./ rep_matrix(x_scale', N);
  // scale of each school coefficient: sampled = d .* original
  vector[3] d = [1, s_lrt, 1]';
  matrix[3, 3] L_R = cholesky_decompose(R);
}
parameters {
  // everything on the sampler's (standardised) scale; see transformed_data/exam_standardise.stan
  vector[3] gamma_std;
  vector[8] beta_std;
  real theta;
  real phi_std;
  matrix[3, J] z;
  // Cholesky factor of Sigma on the sampler's scale
  cholesky_factor_cov[3] L_std;
}
transformed parameters {
  matrix[J, 3] a_std = rep_matrix(gamma_std', J) + (L_std * z)';
  // fixed effects, population means of the school coefficients and phi on the original scale
  vector[8] beta = beta_std ./ x_scale;
  vector[3] gamma = [gamma_std[1] - dot_product(beta, x_centre), gamma_std[2] / s_lrt, gamma_std[3]]';
  real phi = phi_std / s_lrt;
  // on the original scale (rows divided by d: a linear map, constant Jacobian)
  matrix[3, 3] L_Sigma = diag_pre_multiply(inv(d), L_std);
}
model {
  L_Sigma ~ inv_wishart_cholesky(3, L_R);
  // fixed effects, population means of the school coefficients, residual log-precision terms
  // (on the original scale) and the standardised school deviations (both exam programs)
  gamma ~ normal(0, coef_scale);
  beta ~ normal(0, coef_scale);
  theta ~ normal(0, coef_scale);
  phi ~ normal(0, coef_scale);
  to_vector(z) ~ std_normal();
  if (!prior_only) {
    // school part as the GLM's per-pupil intercept; log precision theta + phi * lrt
    y ~ normal_id_glm(X_std, a_std[school, 1] + a_std[school, 2] .* l + a_std[school, 3] .* vr1,
                      beta_std, exp(-0.5 * (theta + phi_std * l)));
  }
}
generated quantities {
  cov_matrix[3] Sigma = multiply_lower_tri_self_transpose(L_Sigma);
  vector[3] tau = sqrt(diagonal(Sigma));
  corr_matrix[3] Omega = quad_form_diag(Sigma, inv(tau));
  // school coefficients on the original scale: intercept, lrt, vr1
  matrix[J, 3] a = a_std;
  a[:, 1] -= dot_product(beta, x_centre);
  a[:, 2] /= s_lrt;
  // per-pupil output; pointwise = 0 leaves it empty (it can cost more than the sampling)
  vector[pointwise ? N : 0] log_lik;
  array[pointwise ? N : 0] real y_rep;
  if (pointwise) {
    vector[N] mu = a_std[school, 1] + a_std[school, 2] .* l + a_std[school, 3] .* vr1 + X_std * beta_std;
    vector[N] s = exp(-0.5 * (theta + phi_std * l));
    for (i in 1:N) {
      log_lik[i] = normal_lpdf(y[i] | mu[i], s[i]);
    }
    y_rep = normal_rng(mu, s);
  }
}
