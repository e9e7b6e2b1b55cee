"""The original analysis's Gibbs sampler for the math-test hierarchical normal (docs/models.md §6).

Model and priors as the Stan programs: y_ij ~ normal(theta_i, 1/lambda), theta_i ~ normal(mu,
1/(omega lambda)), lambda ~ gamma(a, b), omega ~ gamma(c, d), mu ~ normal(nu, 1/phi). Every
full conditional is conjugate:

- theta_i | . ~ normal((n_i ybar_i + omega mu) / (n_i + omega), 1 / (lambda (n_i + omega)))
- mu | .      ~ normal((phi nu + omega lambda sum_i theta_i) / P, 1 / P), P = phi + J omega lambda
- lambda | .  ~ gamma(a + (N + J) / 2, b + [sum_ij (y_ij - theta_i)^2 + omega sum_i (theta_i - mu)^2] / 2)
- omega | .   ~ gamma(c + J / 2, d + lambda sum_i (theta_i - mu)^2 / 2)

Each sweep is vectorised over chains and schools and uses only the per-school sufficient
statistics, so a run of thousands of sweeps takes about a second. It shares no code with the Stan
programs, which makes it an independent cross-check of their posterior.
"""

from __future__ import annotations

import secrets
import time

import arviz as az
import numpy as np

from ..fitting import check_sampler_arguments
from ..stan_data import StanData


def _initial(rng: np.random.Generator, chains: int, ybar: np.ndarray, spread: float):
    """Over-dispersed starting points: a random school's mean for mu, sigma^2 within a factor e
    of the scores' variance, tau^2 from e^-3 to e."""
    mu = rng.choice(ybar, size=chains)
    lam = 1 / (spread * np.exp(rng.uniform(-1, 1, chains)))
    omega = np.exp(rng.uniform(-1, 3, chains))
    return mu, lam, omega


def sample_gibbs(stan_data: StanData, *, chains: int = 4, draws: int = 5000, warmup: int = 1000,
                 seed: int | None = None) -> az.InferenceData:
    """Run ``chains`` Gibbs chains on prepared math-test data (``mathtest.stan_data``).

    Returns InferenceData with the Stan fit's names, dims and coords: posterior ``mu``,
    ``lambda``, ``omega``, ``sigma2``, ``tau2`` and ``theta`` (by school), plus observed_data and
    constant_data. No sample_stats (there is no sampler tuning to report).
    """
    check_sampler_arguments(chains=chains, draws=draws, warmup=warmup, seed=seed)
    seed = secrets.randbelow(2**31) if seed is None else seed
    rng = np.random.default_rng(seed)
    d = stan_data.data
    n, total, ss = d["school_n"].astype(float), d["school_sum"], d["school_ss"]
    ybar, big_n, J = total / n, d["N"], d["J"]
    within_total = ss.sum()
    mu, lam, omega = _initial(rng, chains, ybar, float(np.var(d["y"])) or 1.0)
    kept = {name: np.empty((chains, draws)) for name in ("mu", "lambda", "omega")}
    kept["theta"] = np.empty((chains, draws, J))
    start = time.perf_counter()
    for step in range(warmup + draws):
        # school means given everything else (chains in rows, schools in columns)
        weight = n + omega[:, None]
        theta = ((total + omega[:, None] * mu[:, None]) / weight
                 + rng.standard_normal((chains, J)) / np.sqrt(lam[:, None] * weight))
        # population mean
        precision = d["phi"] + J * omega * lam
        mu = ((d["phi"] * d["nu"] + omega * lam * theta.sum(axis=1)) / precision
              + rng.standard_normal(chains) / np.sqrt(precision))
        # precisions (numpy's gamma takes a scale, the inverse of the rate)
        between = ((theta - mu[:, None]) ** 2).sum(axis=1)
        within = within_total + (n * (ybar - theta) ** 2).sum(axis=1)
        lam = rng.gamma(d["a"] + (big_n + J) / 2, 1 / (d["b"] + 0.5 * (within + omega * between)))
        omega = rng.gamma(d["c"] + J / 2, 1 / (d["d"] + 0.5 * lam * between))
        if step >= warmup:
            for name, value in (("mu", mu), ("lambda", lam), ("omega", omega), ("theta", theta)):
                kept[name][:, step - warmup] = value
    seconds = time.perf_counter() - start
    posterior = {"mu": kept["mu"], "lambda": kept["lambda"], "omega": kept["omega"],
                 "sigma2": 1 / kept["lambda"], "tau2": 1 / kept["omega"], "theta": kept["theta"]}
    attrs = {**stan_data.attrs, "variant": "gibbs", "engine": "numpy gibbs", "seed": seed, "chains": chains,
             "draws": draws, "warmup": warmup, "sampling_seconds": seconds}
    groups = {"posterior": posterior, "observed_data": {stan_data.outcome: stan_data.observed},
              "constant_data": stan_data.constant}
    names = {name for group in groups.values() for name in group}
    return az.from_dict(**groups, coords=stan_data.coords,
                        dims={k: v for k, v in stan_data.dims.items() if k in names}, posterior_attrs=attrs)
