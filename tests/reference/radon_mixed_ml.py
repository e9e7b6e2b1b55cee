"""Maximum likelihood of radon's correlated varying-intercept, varying-slope model, independent of
hierstan's code; used only by tests (the estimate lme4's ``lmer(y ~ x + (1 + x | county),
REML = FALSE)`` reports).

y_ij = mu_a + mu_b x_ij + a_j + b_j x_ij + e_ij, (a_j, b_j) ~ normal(0, Sigma), e ~ normal(0,
sigma^2). With the county effects integrated out, county j's houses are jointly normal with mean
X_j mu and covariance Z_j Sigma Z_j' + sigma^2 I (Z_j = X_j = [1, x]); the log-likelihood sums
over counties and is maximised over (mu_a, mu_b, log sd_a, log sd_b, atanh rho, log sigma).
"""

import numpy as np
from scipy import optimize


def fit(y, x, county):
    y, x = np.asarray(y, float), np.asarray(x, float)
    groups = [np.flatnonzero(np.asarray(county) == c) for c in np.unique(county)]
    designs = [np.column_stack([np.ones(len(g)), x[g]]) for g in groups]

    def negative_log_lik(theta):
        mu = theta[:2]
        sd_a, sd_b, rho, sigma = np.exp(theta[2]), np.exp(theta[3]), np.tanh(theta[4]), np.exp(theta[5])
        cov = np.array([[sd_a**2, rho * sd_a * sd_b], [rho * sd_a * sd_b, sd_b**2]])
        total = 0.0
        for g, X in zip(groups, designs):
            V = X @ cov @ X.T + sigma**2 * np.eye(len(g))
            r = y[g] - X @ mu
            sign, logdet = np.linalg.slogdet(V)
            total += logdet + r @ np.linalg.solve(V, r)
        return 0.5 * total

    # from a few starting correlations (the likelihood also has a ridge at sd_b -> 0), the best
    starts = [[np.mean(y), 0.0, np.log(0.3), np.log(0.3), z, np.log(np.std(y))] for z in (-0.5, 0.0, 0.5)]
    results = [optimize.minimize(negative_log_lik, start, method="L-BFGS-B") for start in starts]
    result = min(results, key=lambda r: r.fun)
    mu_a, mu_b, log_a, log_b, z, log_sigma = result.x
    return {"mu_alpha": mu_a, "mu_beta": mu_b, "sigma_alpha": np.exp(log_a), "sigma_beta": np.exp(log_b),
            "rho": np.tanh(z), "sigma_y": np.exp(log_sigma), "converged": bool(result.success)}
