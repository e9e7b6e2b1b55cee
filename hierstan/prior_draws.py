"""Draws from the priors the Stan programs state, in numpy: what every family's ``simulate_prior``
is made of.

Simulation-based calibration (Talts et al. 2018) ranks the true value of each parameter among
the posterior draws of a fit to data simulated from it; the ranks are uniform only if the
simulator draws exactly the program's prior. So these follow Stan's conventions: a ``real<lower=0>``
given ``~ normal(0, s)`` or ``~ cauchy(0, s)`` is the half-normal or half-Cauchy (the bound
truncates, and Stan drops the constant normalisation), ``gamma(a, b)`` is shape a and *rate* b,
``inv_gamma(a, b)`` shape a and scale b, and ``lkj_corr_cholesky(eta)`` is the LKJ(eta)
distribution of the correlation matrix ``L L'``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from .errors import DataError, check_choice
from .validation import require_frame

Seed = int | np.random.Generator | None


def generator(seed: Seed) -> np.random.Generator:
    """``numpy.random.default_rng(seed)``: a generator passed in is used as it is (its draws
    continue its stream), so a caller can thread one generator through several simulations."""
    return np.random.default_rng(seed)


def half_normal(rng: np.random.Generator, scale: float, size: int | tuple[int, ...] | None = None):
    """|normal(0, scale)|: Stan's ``real<lower=0> x; x ~ normal(0, scale)``."""
    return np.abs(rng.normal(0.0, scale, size))


def half_cauchy(rng: np.random.Generator, scale: float, size: int | tuple[int, ...] | None = None):
    """|cauchy(0, scale)|: Stan's ``real<lower=0> x; x ~ cauchy(0, scale)`` (median ``scale``)."""
    return np.abs(scale * rng.standard_cauchy(size))


def inv_gamma(rng: np.random.Generator, shape: float, scale: float,
              size: int | tuple[int, ...] | None = None):
    """Stan's ``inv_gamma(shape, scale)``: 1 / gamma(shape, rate = scale)."""
    # numpy's gamma takes a scale, the inverse of the rate
    return 1.0 / rng.gamma(shape, 1.0 / scale, size)


def gamma_rate(rng: np.random.Generator, shape: float, rate: float,
               size: int | tuple[int, ...] | None = None):
    """Stan's ``gamma(shape, rate)`` (numpy's gamma takes the scale 1 / rate)."""
    return rng.gamma(shape, 1.0 / rate, size)


def lkj_cholesky(rng: np.random.Generator, eta: float, d: int) -> np.ndarray:
    """Cholesky factor of a d x d correlation matrix drawn from LKJ(eta), by the onion method
    (Lewandowski, Kurowicka and Joe 2009, section 3.2).

    Row k of the factor (k = 1..d-1, 0-based) is (sqrt(y) u, sqrt(1 - y)) with u uniform on the
    unit sphere of R^k and y ~ beta(k / 2, eta + (d - 2) / 2 - (k - 1) / 2): the onion grows
    the matrix one row at a time, and these rows have unit length, so L L' is a correlation
    matrix. Each off-diagonal correlation r then has (r + 1) / 2 ~ beta(eta - 1 + d / 2, same).
    """
    if not (np.isfinite(eta) and eta > 0):
        raise DataError(f"LKJ shape eta must be finite and > 0, got {eta!r}")
    L = np.zeros((d, d))
    L[0, 0] = 1.0
    for k in range(1, d):
        y = rng.beta(k / 2, eta + (d - 2) / 2 - (k - 1) / 2)
        u = rng.standard_normal(k)
        L[k, :k] = np.sqrt(y) * u / np.linalg.norm(u)
        L[k, k] = np.sqrt(1.0 - y)
    return L


def lkj_corr(rng: np.random.Generator, eta: float, d: int) -> np.ndarray:
    """A d x d correlation matrix drawn from LKJ(eta) (:func:`lkj_cholesky`), unit diagonal exact."""
    L = lkj_cholesky(rng, eta, d)
    omega = L @ L.T
    np.fill_diagonal(omega, 1.0)  # 1 up to rounding already; exactly 1 as Stan's Omega reports
    return omega


def design_frame(data: pd.DataFrame | None, load_data: Callable[[], pd.DataFrame], outcome: str,
                 what: str, placeholder: float = 0.0) -> pd.DataFrame:
    """A copy of the design ``data`` (default: ``load_data()``) whose outcome column holds
    ``placeholder``, a value every family accepts: the design is then checked by the family's
    own data preparation, whatever its outcome held (or if it had none), and the copy receives
    the simulated outcome. The frame passed in is never modified."""
    frame = load_data() if data is None else require_frame(data, what).copy()
    frame[outcome] = placeholder
    return frame


def supported_variant(family: str, variant: str, variants: Sequence[str], simulated: Sequence[str]) -> str:
    """``variant`` if it is one of the family's and has a prior simulator; else UnknownNameError
    (not a variant) or DataError naming the ones that have one."""
    check_choice(f"{family} variant", variant, variants)
    if variant not in simulated:
        raise DataError(f"{family}.simulate_prior: no prior simulator for variant {variant!r}; "
                        f"supported variants: {', '.join(simulated)}")
    return variant


def as_truth(values: dict[str, object], names: Sequence[str]) -> dict[str, np.ndarray]:
    """The truth as float arrays (0-d for scalars), in the order ``names`` (the posterior's)."""
    return {name: np.asarray(values[name], dtype=float) for name in names}


def effect_pairs(rng: np.random.Generator, values: dict, J: int) -> tuple[np.ndarray, np.ndarray]:
    """J groups' (alpha, beta): bivariate normal with means mu_alpha, mu_beta, sds sigma_alpha,
    sigma_beta and correlation ``values["rho"]``, drawn as the slope given the intercept (rho 0
    consumes the generator as independent draws of alpha, then beta, do)."""
    alpha = rng.normal(values["mu_alpha"], values["sigma_alpha"], J)
    deviate = (alpha - values["mu_alpha"]) / values["sigma_alpha"]
    beta = rng.normal(values["mu_beta"] + values["sigma_beta"] * values["rho"] * deviate,
                      values["sigma_beta"] * np.sqrt(1 - values["rho"] ** 2), J)
    return alpha, beta
