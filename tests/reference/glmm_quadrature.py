"""Maximum-likelihood reference for the random-intercept logistic regression.

Model: ``y_ij ~ Bernoulli(inv_logit(x_ij' beta + a_j))`` with ``a_j ~ normal(0, s^2)``.  The marginal
likelihood of each school is computed by adaptive Gauss-Hermite quadrature (nodes centred at the mode of
the school's integrand in ``a`` and scaled by its curvature) and maximised over ``(beta, log s)`` with
scipy.  Independent of Stan; used to check Stan posteriors.
"""

from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite import hermgauss
from scipy.optimize import minimize
from scipy.special import expit, logsumexp


@dataclass(frozen=True)
class Cells:
    """Pupils pooled into binomial cells of identical (school, covariate row), sorted by school."""

    X: np.ndarray  # (C, p) covariate row of each cell
    k: np.ndarray  # (C,) number of successes
    m: np.ndarray  # (C,) number of pupils
    school: np.ndarray  # (C,) school index 0..J-1, non-decreasing
    starts: np.ndarray  # (J,) first cell of each school, for np.add.reduceat
    groups: np.ndarray  # (J,) the original school labels


def aggregate(y, X, group):
    """Pool pupils with the same school and covariate row into binomial counts.

    The Bernoulli likelihood of the pupils equals ``p^k (1-p)^(m-k)`` per cell (no binomial
    coefficient), so this changes speed only, not the likelihood.
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[0] != y.shape[0] or len(group) != y.shape[0]:
        raise ValueError("y, X (n x p) and group must describe the same n pupils")
    if not (np.isfinite(X).all() and np.isin(y, (0.0, 1.0)).all()):
        raise ValueError("X must be finite and y must be 0/1")
    groups, code = np.unique(np.asarray(group), return_inverse=True)
    # the school code is the first sort key, so each school's cells are contiguous
    rows, cell = np.unique(np.column_stack([code, X]), axis=0, return_inverse=True)
    cell = cell.ravel()
    school = rows[:, 0].astype(int)
    starts = np.flatnonzero(np.r_[True, np.diff(school) != 0])
    return Cells(rows[:, 1:], np.bincount(cell, weights=y), np.bincount(cell).astype(float), school,
                 starts, groups)


def _log_lik_cells(cells, eta):
    """Bernoulli log-likelihood of each cell at linear predictor ``eta`` (any trailing shape)."""
    k = cells.k.reshape(cells.k.shape + (1,) * (eta.ndim - 1))
    m = cells.m.reshape(k.shape)
    return k * eta - m * np.logaddexp(0.0, eta)


def _log_integrand(cells, xb, sigma, a):
    """log of prod_i p(y_ij | a) * normal(a | 0, sigma^2) per school; ``a`` is (J,) or (J, K)."""
    eta = xb.reshape(xb.shape + (1,) * (a.ndim - 1)) + a[cells.school]
    log_prior = -0.5 * (a / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2.0 * np.pi)
    return np.add.reduceat(_log_lik_cells(cells, eta), cells.starts, axis=0) + log_prior


def _modes(cells, xb, sigma, max_iter=100, tol=1e-10):
    """Modes and curvatures (minus second derivative) of every school's log integrand.

    Vectorised Newton over all schools.  The log integrand is strictly concave, but a full Newton step
    can overshoot from the flat tails of the logistic, so steps are halved until the value does not drop
    (beyond rounding: near the mode a genuine Newton step can seem to lower it by ~1e-14).
    """
    a = np.zeros(len(cells.starts))
    for _ in range(max_iter):
        p = expit(xb + a[cells.school])
        grad = np.add.reduceat(cells.k - cells.m * p, cells.starts) - a / sigma**2
        curv = np.add.reduceat(cells.m * p * (1.0 - p), cells.starts) + 1.0 / sigma**2
        step = grad / curv
        if np.max(np.abs(step)) < tol:
            return a, curv
        h_floor = _log_integrand(cells, xb, sigma, a)
        h_floor -= 1e-12 * (1.0 + np.abs(h_floor))
        t = np.ones_like(a)
        for _ in range(50):
            worse = _log_integrand(cells, xb, sigma, a + t * step) < h_floor
            if not worse.any():
                break
            t[worse] /= 2.0
        a = a + t * step
    raise RuntimeError("Newton iterations for the random-intercept modes did not converge")


def school_log_lik(cells, beta, sigma, nodes=25):
    """Marginal log-likelihood of each school by adaptive Gauss-Hermite quadrature.

    With the substitution ``a = mode + sqrt(2) * sd * x``,
    ``int exp(h(a)) da = sqrt(2) * sd * sum_k w_k exp(x_k^2) exp(h(a_k))``, evaluated in log-sum-exp form.
    """
    xb = cells.X @ np.asarray(beta, dtype=float)
    mode, curv = _modes(cells, xb, sigma)
    sd = 1.0 / np.sqrt(curv)
    x, w = hermgauss(nodes)
    a = mode[:, None] + np.sqrt(2.0) * sd[:, None] * x
    log_terms = np.log(w) + x**2 + _log_integrand(cells, xb, sigma, a)
    return np.log(np.sqrt(2.0) * sd) + logsumexp(log_terms, axis=1)


def marginal_log_lik(y, X, group, beta, sigma, nodes=25):
    """Total marginal log-likelihood at ``(beta, sigma)`` for pupil-level data (convenience wrapper)."""
    return float(school_log_lik(aggregate(y, X, group), beta, sigma, nodes).sum())


def _numerical_hessian(f, theta, rel_step=1e-3):
    """Central finite-difference Hessian of a scalar function."""
    h = rel_step * np.maximum(1.0, np.abs(theta))
    n = len(theta)
    hess = np.empty((n, n))
    f0 = f(theta)
    for i in range(n):
        ei = np.zeros(n)
        ei[i] = h[i]
        hess[i, i] = (f(theta + ei) - 2.0 * f0 + f(theta - ei)) / h[i] ** 2
        for j in range(i):
            ej = np.zeros(n)
            ej[j] = h[j]
            hess[i, j] = hess[j, i] = (f(theta + ei + ej) - f(theta + ei - ej) - f(theta - ei + ej)
                                       + f(theta - ei - ej)) / (4.0 * h[i] * h[j])
    return hess


def random_intercept_logit_mle(y, X, group, nodes=25, start=None):
    """Maximum-likelihood fit of the random-intercept logistic regression.

    Parameters
    ----------
    y : array (n,) of 0/1 outcomes.
    X : array (n, p) of covariates; include a column of ones for the intercept (none is added).
    group : array (n,) of school labels (any sortable type).
    nodes : number of adaptive Gauss-Hermite nodes per school.
    start : optional starting ``(beta..., log s)``; default zeros.

    Returns
    -------
    dict with ``beta``, ``beta_se`` (arrays in the column order of ``X``), ``sigma2`` and ``sigma2_se``
    (school-intercept variance; SE by the delta method from log s), ``log_sigma``, ``log_sigma_se``,
    ``cov`` (covariance of ``(beta, log s)``, inverse numerical Hessian), ``loglik`` (maximised marginal
    log-likelihood), ``converged``, ``message``, ``n_groups``, ``n_cells``, ``nodes``.
    SEs are NaN when the Hessian is not positive definite (e.g. an estimate of s^2 at the 0 boundary).
    """
    cells = aggregate(y, X, group)
    p = cells.X.shape[1]

    def nll(theta):
        return -school_log_lik(cells, theta[:p], np.exp(theta[p]), nodes).sum()

    theta0 = np.zeros(p + 1) if start is None else np.asarray(start, dtype=float)
    res = minimize(nll, theta0, method="BFGS", jac="3-point", options={"gtol": 1e-6})
    hess = _numerical_hessian(nll, res.x)
    try:
        np.linalg.cholesky(hess)
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        cov = np.full_like(hess, np.nan)
    se = np.sqrt(np.diag(cov))
    sigma2 = float(np.exp(2.0 * res.x[p]))
    # the gradient test is looser than BFGS's own: finite-difference gradients can stall it at the optimum
    converged = bool(res.success or np.max(np.abs(res.jac)) < 1e-3)
    return {
        "beta": res.x[:p].copy(), "beta_se": se[:p],
        "sigma2": sigma2, "sigma2_se": float(2.0 * sigma2 * se[p]),
        "log_sigma": float(res.x[p]), "log_sigma_se": float(se[p]),
        "cov": cov, "loglik": float(-res.fun), "converged": converged, "message": res.message,
        "n_groups": len(cells.starts), "n_cells": len(cells.k), "nodes": nodes,
    }
