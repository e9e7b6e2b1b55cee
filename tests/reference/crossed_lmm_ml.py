"""Maximum likelihood of a linear mixed model with any number of crossed grouping factors, each
with its own block of correlated effects: an independent reference for the glmm family where
statsmodels' MixedLM cannot go (crossed factors with a correlated slope).

y = X b + sum over factors f of Z_f u_f + e, u_f level by level ~ normal(0, Sigma_f), e ~ normal(0,
sigma^2). The marginal likelihood of y ~ normal(X b, sigma^2 I + Z G Z') is evaluated through the
effects' precision M = G^-1 + Z'Z / sigma^2 (Woodbury), with b profiled out by generalised least
squares, so each evaluation costs one Cholesky of M (q x q, q the number of effects), not of the
n x n covariance. tests/unit/test_reference_lmm.py checks it against MixedLM where both apply."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize


def _design(frame, factors: dict[str, list[str]]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Z (rows x effects), factor by factor and level by level, and each factor's (levels, terms)."""
    blocks, shapes = [], []
    for factor, terms in factors.items():
        codes = np.unique(frame[factor].to_numpy(), return_inverse=True)[1].ravel()
        J = codes.max() + 1
        values = np.column_stack(
            [np.ones(len(frame)) if t == "Intercept" else frame[t].to_numpy(float) for t in terms]
        )
        Z = np.zeros((len(frame), J * len(terms)))
        for t in range(len(terms)):
            Z[np.arange(len(frame)), codes * len(terms) + t] = values[:, t]
        blocks.append(Z)
        shapes.append((J, len(terms)))
    return np.column_stack(blocks), shapes


def _covariances(theta: np.ndarray, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
    """Each factor's Sigma from log sds and, for two terms, atanh of their correlation."""
    out, at = [], 0
    for _, p in shapes:
        sd = np.exp(theta[at : at + p])
        corr = np.eye(p)
        if p == 2:
            corr[0, 1] = corr[1, 0] = np.tanh(theta[at + p])
        elif p > 2:
            raise ValueError("blocks of up to two terms")
        out.append(corr * np.outer(sd, sd))
        at += p + (p == 2)
    return out


def fit(frame, outcome: str, fixed: list[str], factors: dict[str, list[str]]) -> dict:
    """ML estimates: ``b`` (by fixed name), per factor ``sd`` and ``corr`` (two terms), ``sigma``.
    ``fixed`` and each factor's terms name columns of ``frame`` or ``"Intercept"``."""
    y = frame[outcome].to_numpy(float)
    X = np.column_stack(
        [np.ones(len(frame)) if c == "Intercept" else frame[c].to_numpy(float) for c in fixed]
    )
    Z, shapes = _design(frame, factors)
    n = len(y)
    ZZ, ZX, Zy = Z.T @ Z, Z.T @ X, Z.T @ y
    XX, Xy, yy = X.T @ X, X.T @ y, y @ y

    def solve(theta):
        sigma2 = np.exp(2 * theta[-1])
        covs = _covariances(theta[:-1], shapes)
        G_inv = np.zeros_like(ZZ)
        log_det_G, at = 0.0, 0
        for (J, p), cov in zip(shapes, covs):
            inv = np.linalg.inv(cov)
            for j in range(J):
                G_inv[at + j * p : at + (j + 1) * p, at + j * p : at + (j + 1) * p] = inv
            log_det_G += J * np.linalg.slogdet(cov)[1]
            at += J * p
        M = G_inv + ZZ / sigma2
        chol = np.linalg.cholesky(M)

        # a' V^-1 b = (a'b - (Z'a)' M^-1 (Z'b) / sigma2) / sigma2

        def solve_M(v):
            return np.linalg.solve(chol.T, np.linalg.solve(chol, v))

        XVX = (XX - ZX.T @ solve_M(ZX) / sigma2) / sigma2
        XVy = (Xy - ZX.T @ solve_M(Zy) / sigma2) / sigma2
        b = np.linalg.solve(XVX, XVy)
        r_Z = Zy - ZX @ b
        rr = yy - 2 * b @ Xy + b @ XX @ b
        quad = (rr - r_Z @ solve_M(r_Z) / sigma2) / sigma2
        log_det_V = n * np.log(sigma2) + log_det_G + 2 * np.sum(np.log(np.diag(chol)))
        return 0.5 * (log_det_V + quad), b

    start = []
    for _, p in shapes:
        start += [np.log(np.std(y) / 2)] * p + [0.0] * (p == 2)
    start = np.array(start + [np.log(np.std(y) / 2)])
    result = minimize(
        lambda t: solve(t)[0],
        start,
        method="Nelder-Mead",
        options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 20000, "maxfev": 20000},
    )
    result = minimize(lambda t: solve(t)[0], result.x, method="BFGS")
    theta = result.x
    b = solve(theta)[1]
    out = {"b": dict(zip(fixed, b)), "sigma": float(np.exp(theta[-1])), "sd": {}, "corr": {}}
    for factor, cov in zip(factors, _covariances(theta[:-1], shapes)):
        sd = np.sqrt(np.diag(cov))
        out["sd"][factor] = dict(zip(factors[factor], sd))
        if len(sd) == 2:
            out["corr"][factor] = float(cov[0, 1] / sd.prod())
    return out
