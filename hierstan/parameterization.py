"""Centered or non-centered group effects, chosen from the data group by group.

A group's effect is best sampled centered (the effect itself) when the group's own data pin it
down more than the population does, and non-centered (its standardised deviation from the
population) otherwise: centered where the data say little is a funnel, non-centered where they
pin the effect is a narrow ridge. The rule, per group j and effect k: centered where

    information_jk * lower_k**2 > 1,

the group's data precision about its effect (1 / the variance of its own estimate) against the
population's (1 / scale_k**2), taken at lower_k, the low end of what the data allow for the
scale: a scale smaller than a centered group's own uncertainty is where the centered form is a
funnel (and a divergence is worse than the slower mixing of a non-centered group the data pin
down). The scales come from a pilot that does not sample: restricted maximum likelihood over
the groups' own estimates, with a profile-likelihood bound, for the normal families;
Gauss-Hermite marginal likelihood, with a Wald bound on the log scale, for the logistic one. The
bound is one-sided at 95%; where it reaches 0 (the data cannot tell the scale from 0), every
group of that effect stays non-centered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from .stan_data import DEFAULT_ADVICE

AUTO = "auto"
# a one-sided 95% bound: the likelihood-ratio drop (chi-square(1) at 90%) and the normal quantile
BOUND_DROP = 2.71
BOUND_Z = 1.645


@dataclass(frozen=True)
class EffectChoice:
    """What the pilot found for one group effect and which groups it centers."""

    effect: str  # the effect's name in the fit, e.g. "alpha"
    scale_name: str  # its population sd, e.g. "sigma_alpha"
    scale: float  # the pilot's estimate of that sd (nan: none)
    lower: float  # its one-sided 95% lower bound, which the rule uses
    centered: np.ndarray  # bool per group
    note: str = ""  # why every group fell back to non-centered, if it did

    def describe(self, groups: str) -> str:
        scale = ("no estimate" if not np.isfinite(self.scale)
                 else f"{self.scale:.3g}, lower bound {self.lower:.3g}")
        text = (f"{self.effect}: centered in {int(self.centered.sum())} of {len(self.centered)} "
                f"groups of {groups} (pilot {self.scale_name} {scale})")
        return text + (f"; {self.note}" if self.note else "")


def choose(effect: str, scale_name: str, estimates: np.ndarray, variances: np.ndarray,
           design: np.ndarray | None = None) -> EffectChoice:
    """Per-group choice for one effect from each group's own estimate and its sampling variance
    (``inf`` where the group's data do not identify it). ``design`` holds group-level predictors
    of the effect's mean (default: a constant)."""
    variances = np.asarray(variances, float)
    known = np.isfinite(variances) & np.isfinite(estimates)
    X = np.ones((len(variances), 1)) if design is None else np.asarray(design, float)
    if known.sum() <= X.shape[1]:  # REML needs a residual degree of freedom
        return EffectChoice(effect, scale_name, np.nan, np.nan, np.zeros(len(variances), dtype=bool),
                            f"only {known.sum()} groups estimate it: all non-centered")
    scale, lower = population_scale(np.asarray(estimates, float)[known], variances[known], X[known])
    with np.errstate(divide="ignore"):  # a variance of 0 (identical rows): infinite precision
        information = 1 / variances
    return from_scale(effect, scale_name, scale, lower, information)


def from_scale(effect: str, scale_name: str, scale: float, lower: float,
               information: np.ndarray) -> EffectChoice:
    """The choice given the pilot's scale, its lower bound and each group's data precision about
    its effect."""
    if not lower > 0:
        return EffectChoice(effect, scale_name, scale, 0.0, np.zeros(len(information), dtype=bool),
                            "the pilot cannot tell it from 0: all non-centered")
    return EffectChoice(effect, scale_name, scale, lower, decide(information, lower))


def resolve(parameterization: str, groups: int, pilot: Callable[[], list[EffectChoice]], dim: str,
            flags: tuple[str, ...] = ("centered",)) -> tuple[dict[str, list[int]], str]:
    """The programs' per-group 0/1 flags (Stan data, by name) and the recorded choice.

    A forced form sets every flag alike. ``"auto"`` runs ``pilot``: one flag per effect where
    ``flags`` names one per choice, else the effects share the one flag (sampled together, as a
    pair or a vector), centered only where every effect is."""
    if parameterization != AUTO:
        return {name: [int(parameterization == "centered")] * groups for name in flags}, ""
    choices = pilot()
    together = len(flags) < len(choices)
    per_flag = [combined(choices)] if together else [choice.centered for choice in choices]
    return ({name: centered.astype(int).tolist() for name, centered in zip(flags, per_flag)},
            describe(choices, dim, together=together))


def advice(parameterization: str) -> str:
    """What a divergence warning suggests: a forced form may be the wrong one for some groups;
    an automatic choice is already made, so only the step size is left."""
    if parameterization == AUTO:
        return DEFAULT_ADVICE
    return (f"{DEFAULT_ADVICE}; or let hierstan choose each group's form from the data "
            "(parameterization='auto')")


def describe(choices: Sequence[EffectChoice], groups: str, together: bool = False) -> str:
    """The fit's record of an automatic choice (InferenceData attribute parameterization_choice);
    ``together``: the effects share one flag per group (:func:`combined`), which it states first."""
    text = "; ".join(choice.describe(groups) for choice in choices)
    if together and len(choices) > 1:
        both = combined(choices)
        text = (f"sampled centered where every effect is: {int(both.sum())} of {len(both)} groups of "
                f"{groups}; {text}")
    return text


def decide(information: np.ndarray, scale: float) -> np.ndarray:
    """Centered where the group's data precision exceeds the population's (nan: not)."""
    return np.asarray(information, float) * scale**2 > 1


def population_scale(estimates: np.ndarray, variances: np.ndarray,
                     design: np.ndarray) -> tuple[float, float]:
    """REML estimate of tau in estimate_j ~ normal(design_j' g, tau^2 + variance_j), with g
    profiled out by weighted least squares, and its profile-likelihood lower bound (0 where the
    likelihood at tau = 0 is within the bound's drop of the maximum)."""
    spread = float(np.std(estimates)) or 1.0

    def restricted(log_tau: float) -> float:
        total = np.exp(2 * log_tau) + variances
        w = 1 / total
        information = design.T @ (design * w[:, None])
        g = np.linalg.lstsq(information, design.T @ (w * estimates), rcond=None)[0]
        residual = estimates - design @ g
        sign, logdet = np.linalg.slogdet(information)
        return -0.5 * (np.sum(np.log(total) + w * residual**2) + logdet)

    low, high = np.log(spread * 1e-4), np.log(spread * 10)
    best = optimize.minimize_scalar(lambda t: -restricted(t), bounds=(low, high), method="bounded")
    # the bounded search can miss a maximum at the lower edge: compare with it
    log_tau = best.x if -best.fun >= restricted(low) else low
    target = restricted(log_tau) - BOUND_DROP / 2
    floor = low - 10  # tau = spread * 1e-8: zero for the purpose
    if restricted(floor) >= target:
        return float(np.exp(log_tau)), 0.0
    bound = optimize.brentq(lambda t: restricted(t) - target, floor, log_tau)
    return float(np.exp(log_tau)), float(np.exp(bound))


def group_regression(y: np.ndarray, X: np.ndarray, codes: np.ndarray,
                     groups: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Least squares within each group: coefficients (groups x m), their sampling variances
    (``inf`` for a group whose design does not identify them) and the pooled residual variance."""
    m = X.shape[1]
    xtx = np.zeros((groups, m, m))
    np.add.at(xtx, codes, X[:, :, None] * X[:, None, :])
    xty = np.zeros((groups, m))
    np.add.at(xty, codes, X * y[:, None])
    yty = np.bincount(codes, weights=y * y, minlength=groups)
    n = np.bincount(codes, minlength=groups)
    # a group identifies its coefficients if its X'X is well conditioned (a group without rows
    # has condition number inf)
    with np.errstate(all="ignore"):
        singular = ~(np.linalg.cond(xtx) <= 1e8)
    inverse = np.linalg.pinv(xtx)
    coef = np.einsum("gij,gj->gi", inverse, xty)
    rss = yty - np.einsum("gi,gi->g", coef, xty)
    ranks = np.linalg.matrix_rank(xtx, hermitian=True)
    df = int(n.sum() - ranks.sum())
    noise = float(np.clip(rss, 0, None).sum() / df) if df > 0 else np.nan
    variance = noise * np.diagonal(inverse, axis1=1, axis2=2)
    variance = np.where(singular[:, None], np.inf, variance)
    return coef, variance, noise


def combined(choices: Sequence[EffectChoice]) -> np.ndarray:
    """One flag per group for effects sampled together: centered only where all are."""
    return np.logical_and.reduce([c.centered for c in choices])


def logistic_scales(cell_group: np.ndarray, cell_n: np.ndarray, cell_y: np.ndarray,
                    fixed: np.ndarray, varying: np.ndarray, groups: int,
                    nodes: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Marginal maximum likelihood of a logistic model with independent normal group effects,
    y_c ~ binomial(n_c, inv_logit(fixed_c' b + varying_c' u_j)), u_jk ~ normal(0, scale_k^2),
    by Gauss-Hermite quadrature over u_j (``nodes`` per effect; default 20 for one effect, within
    1% of adaptive 25-node quadrature on the Thai data, 12 each for two). Returns b, the scales, the
    one-sided 95% lower bound of each scale (Wald on the log scale; 0 where the likelihood-ratio
    test cannot tell the scale from 0), and each cell's fitted probability at u = 0.
    The columns of ``fixed`` must include those of ``varying`` (an effect's mean)."""
    k = varying.shape[1]
    nodes = nodes or (20 if k == 1 else 12)
    points, weights = np.polynomial.hermite_e.hermegauss(nodes)
    grid = np.stack(np.meshgrid(*[points] * k, indexing="ij"), -1).reshape(-1, k)
    log_w = np.log(np.prod(np.stack(np.meshgrid(*[weights] * k, indexing="ij"), -1).reshape(-1, k), 1)
                   / np.sqrt(2 * np.pi) ** k)
    shift = varying[:, None, :] * grid[None, :, :]  # cells x nodes x k
    binom = special.gammaln(cell_n + 1) - special.gammaln(cell_y + 1) - special.gammaln(cell_n - cell_y + 1)

    def negative_log_lik(params: np.ndarray, free: np.ndarray) -> float:
        b, log_scale = params[:fixed.shape[1]], np.where(free, params[fixed.shape[1]:], -np.inf)
        eta = (fixed @ b)[:, None] + shift @ np.exp(log_scale)
        cell = binom[:, None] + cell_y[:, None] * eta - cell_n[:, None] * np.logaddexp(0, eta)
        per_group = np.zeros((groups, len(grid)))
        np.add.at(per_group, cell_group, cell)
        return -float(special.logsumexp(per_group + log_w, axis=1).sum())

    def fit(free: np.ndarray) -> tuple[np.ndarray, float]:
        start = np.concatenate([np.zeros(fixed.shape[1]), np.full(k, np.log(0.5))])
        result = optimize.minimize(negative_log_lik, start, args=(free,), method="L-BFGS-B",
                                   bounds=[(None, None)] * fixed.shape[1] + [(-8, 3)] * k)
        return result.x, result.fun

    everything = np.ones(k, dtype=bool)
    full, best = fit(everything)
    statistics = np.array([2 * (fit(np.arange(k) != i)[1] - best) for i in range(k)])
    log_scale = full[fixed.shape[1]:]
    with np.errstate(invalid="ignore"):  # a Hessian that is not positive definite: no bound (nan -> 0)
        se = np.sqrt(np.diag(np.linalg.pinv(_hessian(lambda x: negative_log_lik(x, everything), full))))
    lower = np.where(statistics >= BOUND_DROP, np.exp(log_scale - BOUND_Z * se[fixed.shape[1]:]), 0.0)
    b = full[:fixed.shape[1]]
    return b, np.exp(log_scale), np.nan_to_num(lower), special.expit(fixed @ b)


def _hessian(f, x: np.ndarray, step: float = 1e-3) -> np.ndarray:
    """Central finite differences (the pilot's objective is smooth and cheap)."""
    n = len(x)
    h = np.zeros((n, n))
    shifts = np.eye(n) * step
    for i in range(n):
        for j in range(i, n):
            a, b = shifts[i], shifts[j]
            h[i, j] = h[j, i] = (f(x + a + b) - f(x + a - b) - f(x - a + b) + f(x - a - b)) / (4 * step**2)
    return h
