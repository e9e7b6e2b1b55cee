"""Reference computations for the hierarchical normal y_ij ~ normal(theta_i, s), theta_i ~
normal(mu, t s) (s = sigma^2, t = tau^2), independent of hierstan's code; used only by tests.

- :func:`mvn_mle`: maximum likelihood from each school's score vector as one multivariate normal
  draw, N(mu 1, s_w I + s_b 11'), evaluated by scipy (Cholesky) school by school, maximised over
  (mu, log s_w, log s_b) with Nelder-Mead (no gradients), then tau^2 = s_b / s_w; standard errors
  from a finite-difference Hessian in (mu, sigma^2, tau^2).
- :func:`grid_posterior`: exact posterior means under the gamma/gamma/normal priors, by
  quadrature on a grid of (log sigma^2, log tau^2), with mu and the thetas integrated analytically.
"""

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import minimize


def _groups(y, group):
    frame = pd.DataFrame({"y": np.asarray(y, float), "g": np.asarray(group)})
    return [g["y"].to_numpy() for _, g in frame.groupby("g", sort=True)]


def mvn_log_likelihood(mu, sigma2, tau2, scores):
    """Sum over schools of multivariate_normal.logpdf(y_i; mu 1, sigma2 (I + tau2 11'))."""
    total = 0.0
    for y in scores:
        m = len(y)
        covariance = sigma2 * (np.eye(m) + tau2 * np.ones((m, m)))
        total += stats.multivariate_normal.logpdf(y, np.full(m, mu), covariance)
    return total


def _hessian(f, x, steps):
    """Central second differences of f at x with per-coordinate steps."""
    k = len(x)
    h = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * steps[i], np.eye(k)[j] * steps[j]
            h[i, j] = ((f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej))
                       / (4 * steps[i] * steps[j]))
    return h


def mvn_mle(y, group):
    """ML estimates and standard errors of (mu, sigma^2, tau^2): dict with 'estimate', 'se' (arrays
    in that order), 'log_likelihood' and 'converged'."""
    scores = _groups(y, group)

    def negative(x):  # x = (mu, log within variance, log between variance)
        s_w, s_b = np.exp(x[1]), np.exp(x[2])
        return -mvn_log_likelihood(x[0], s_w, s_b / s_w, scores)

    means = np.array([v.mean() for v in scores])
    start = np.array([np.mean(np.concatenate(scores)), np.log(np.var(np.concatenate(scores))),
                      np.log(np.var(means))])
    result = minimize(negative, start, method="Nelder-Mead",
                      options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 20000, "maxfev": 40000})
    mu, s_w, s_b = result.x[0], np.exp(result.x[1]), np.exp(result.x[2])
    estimate = np.array([mu, s_w, s_b / s_w])
    hessian = _hessian(lambda p: mvn_log_likelihood(p[0], p[1], p[2], scores), estimate, 1e-3 * estimate)
    se = np.sqrt(np.diag(np.linalg.inv(-hessian)))
    return {"estimate": estimate, "se": se, "log_likelihood": -result.fun, "converged": bool(result.success)}


def grid_posterior(y, group, priors, points=301, width=9.0):
    """Posterior means (and sds) of mu, sigma2, tau2 and of each school's theta by quadrature.

    Given (s, t): school means ybar_i ~ normal(mu, v_i), v_i = s (1 + n_i t) / n_i, and the
    within-school sums of squares ss_i / s ~ chi^2(n_i - 1), independently; the normal prior on mu
    is conjugate, so p(ybar | s, t) = p(ybar | mu) p(mu) / p(mu | ybar) at any mu. The grid covers
    ``width`` posterior sds of (log s, log t) each side of the mode, found on a first, coarse grid.
    """
    scores = _groups(y, group)
    n = np.array([len(v) for v in scores], float)
    ybar = np.array([v.mean() for v in scores])
    ss = np.array([((v - v.mean()) ** 2).sum() for v in scores])
    a, b, c, d, nu, phi = (priors[k] for k in ("a", "b", "c", "d", "nu", "phi"))

    def evaluate(log_s, log_t):
        s, t = np.exp(log_s)[..., None], np.exp(log_t)[..., None]
        v = s * (1 + n * t) / n
        precision = phi + (1 / v).sum(-1)
        m = (phi * nu + (ybar / v).sum(-1)) / precision
        log_lik = (stats.norm.logpdf(ybar, m[..., None], np.sqrt(v)).sum(-1)
                   + stats.norm.logpdf(m, nu, 1 / np.sqrt(phi))
                   - stats.norm.logpdf(m, m, 1 / np.sqrt(precision))
                   + (-(n - 1) / 2 * np.log(s) - ss / (2 * s)).sum(-1))
        # gamma priors on the precisions 1/s, 1/t, with the Jacobian of the log scale
        log_prior = (stats.gamma.logpdf(1 / s[..., 0], a, scale=1 / b) - log_s
                     + stats.gamma.logpdf(1 / t[..., 0], c, scale=1 / d) - log_t)
        return log_lik + log_prior, m, precision, t[..., 0]

    def weights(log_s, log_t):
        grid_s, grid_t = np.meshgrid(log_s, log_t, indexing="ij")
        log_p, m, precision, t = evaluate(grid_s, grid_t)
        w = np.exp(log_p - log_p.max())
        return grid_s, grid_t, w / w.sum(), m, precision, t

    # coarse grid: where the mass is
    pooled = np.log(ss.sum() / max(n.sum() - len(n), 1))
    grid_s, grid_t, w, *_ = weights(np.linspace(pooled - 4, pooled + 4, 161), np.linspace(-12, 6, 161))
    centre = [(w * grid_s).sum(), (w * grid_t).sum()]
    spread = [np.sqrt((w * (g - c0) ** 2).sum()) for g, c0 in zip((grid_s, grid_t), centre)]
    axes = [np.linspace(c0 - width * s0, c0 + width * s0, points) for c0, s0 in zip(centre, spread)]
    grid_s, grid_t, w, m, precision, t = weights(*axes)
    s = np.exp(grid_s)
    omega = 1 / t
    theta = (n * ybar + omega[..., None] * m[..., None]) / (n + omega[..., None])
    mean = {"mu": (w * m).sum(), "sigma2": (w * s).sum(), "tau2": (w * t).sum()}
    sd = {"mu": np.sqrt((w * (1 / precision + m**2)).sum() - mean["mu"] ** 2),
          "sigma2": np.sqrt((w * s**2).sum() - mean["sigma2"] ** 2),
          "tau2": np.sqrt((w * t**2).sum() - mean["tau2"] ** 2)}
    return {"mean": mean, "sd": sd, "theta": (w[..., None] * theta).sum(axis=(0, 1)),
            "edge_mass": w[[0, -1], :].sum() + w[:, [0, -1]].sum()}
