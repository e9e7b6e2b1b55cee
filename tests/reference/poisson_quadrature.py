"""Maximum likelihood of a Poisson regression with a normal random intercept, by Gauss-Hermite
quadrature over each group's intercept: an independent reference for the glmm family's poisson
likelihood (tests/integration/test_glmm.py)."""

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln, logsumexp


def marginal_log_lik(y, X, group, beta, sigma, nodes=60):
    """sum over groups of log int prod_i poisson(y_i | exp(x_i b + a)) normal(a | 0, sigma^2) da,
    with a = sqrt(2) sigma t at the Gauss-Hermite nodes t (weights w: int f(t) exp(-t^2) dt)."""
    t, w = np.polynomial.hermite.hermgauss(nodes)
    a = np.sqrt(2.0) * sigma * t
    eta = (X @ beta)[:, None] + a[None, :]
    rows = y[:, None] * eta - np.exp(eta) - gammaln(y + 1)[:, None]
    codes = np.unique(group, return_inverse=True)[1].ravel()
    per_group = np.zeros((codes.max() + 1, nodes))
    np.add.at(per_group, codes, rows)
    return float(logsumexp(per_group + np.log(w / np.sqrt(np.pi)), axis=1).sum())


def random_intercept_poisson_mle(y, X, group, nodes=60):
    """(beta, sigma) maximising :func:`marginal_log_lik`; X includes the intercept column."""
    p = X.shape[1]
    start = np.concatenate([np.zeros(p), [np.log(0.5)]])
    start[0] = np.log(y.mean() + 0.5)

    def nll(theta):
        return -marginal_log_lik(y, X, group, theta[:p], np.exp(theta[p]), nodes)

    result = minimize(nll, start, method="BFGS")
    return {"beta": result.x[:p], "sigma": float(np.exp(result.x[p])), "converged": bool(result.success)}
