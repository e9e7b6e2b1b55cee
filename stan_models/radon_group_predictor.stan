// Minnesota radon, varying intercept with county log-uranium predictor (Gelman & Hill ch. 12)
// (docs/models.md §2); centered or non-centered county by county through the data flag `centered`.
functions {
#include functions/centering.stan
}
data {
#include data/radon.stan
  // per county: 1 = sample its intercept itself (centered), 0 = its standardised deviation
  array[J] int<lower=0, upper=1> centered;
}
transformed data {
#include transformed_data/centering.stan
}
parameters {
  real<lower=0> sigma_y;
  real gamma_0;
  real gamma_1;
  real<lower=0> sigma_alpha;
  // county j's intercept itself where centered[j] = 1, its standardised deviate otherwise
  vector[J] z_alpha;
  real beta;
}
transformed parameters {
  // county intercepts, about gamma_0 + gamma_1 * u
  vector[J] alpha;
  alpha[c_idx] = z_alpha[c_idx];
  alpha[nc_idx] = gamma_0 + gamma_1 * u[nc_idx] + sigma_alpha * z_alpha[nc_idx];
}
model {
#include model/radon_priors.stan
  gamma_0 ~ normal(0, coef_scale);
  gamma_1 ~ normal(0, coef_scale);
#include model/radon_priors_intercept_scale.stan
#include model/radon_priors_slope.stan
  // county intercepts
  // an empty set still checks its scale, which can underflow to 0 in warmup
  if (size(c_idx) > 0) z_alpha[c_idx] ~ normal(gamma_0 + gamma_1 * u[c_idx], sigma_alpha);
  z_alpha[nc_idx] ~ std_normal();
  {
    vector[J] a = alpha;
    vector[J] b = rep_vector(beta, J);
#include model/radon_likelihood.stan
  }
}
generated quantities {
  // per-house output; pointwise = 0 leaves it empty (it can cost more than the sampling)
  vector[pointwise ? N : 0] log_lik;
  array[pointwise ? N : 0] real y_rep;
  if (pointwise) {
    vector[J] a = alpha;
    vector[J] b = rep_vector(beta, J);
#include generated_quantities/radon.stan
  }
}
