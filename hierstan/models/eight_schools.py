"""Eight schools (docs/models.md §1): coaching effects in eight schools with known standard errors.

y_j ~ normal(theta_j, sigma_j); theta_j ~ normal(mu, tau); mu ~ normal(0, 5);
tau ~ half-Cauchy(0, 5). One variant, ``hierarchical``; parameterization ``auto`` (default: each
school's form from the data, hierstan.parameterization), ``noncentered`` (theta = mu + tau *
z_theta) or ``centered``, a data flag per school of one program.
"""

from __future__ import annotations

from typing import Any

import arviz as az
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ..errors import DataError, check_choice
from ..family import Family
from ..parameterization import advice, choose, resolve
from ..post_estimation import Prediction, data_column, draws_of, group_draws
from ..prior_draws import Seed, as_truth, design_frame, generator, half_cauchy, supported_variant
from ..programs import data_file
from ..stan_data import StanData, column_attrs, group_dim
from ..validation import (
    distinct_columns,
    label_column,
    not_reserved,
    numeric_column,
    prior_scales,
    require_columns,
    require_frame,
    text_labels,
)

FAMILY = "eight_schools"
DESCRIPTION = "Eight schools: coaching effects with known standard errors (Rubin 1981)"
#: The variants ``fit`` takes (``variant=``), the default first.
VARIANTS = ("hierarchical",)
PARAMETERIZATIONS = ("auto", "noncentered", "centered")
#: Default prior scales, overridden by ``priors=`` (Stan data: no recompile).
PRIORS = {"mu_scale": 5.0, "tau_scale": 5.0}


def load_data() -> pd.DataFrame:
    """The shipped data: columns school (A-H), y (effect) and sigma (its standard error)."""
    return pd.read_csv(data_file("eight_schools.csv"))


def stan_data(
    data: pd.DataFrame | None = None,
    *,
    variant: str = "hierarchical",
    parameterization: str = "auto",
    priors: dict[str, float] | None = None,
    outcome: str = "y",
    group: str = "school",
    sigma: str = "sigma",
) -> StanData:
    """Validate ``data`` (default: the shipped data) and turn it into Stan data.

    ``priors`` overrides ``mu_scale`` and ``tau_scale`` (both 5); the column arguments name
    the columns holding the effects (``outcome``), the school labels (``group``) and the
    effects' standard errors (``sigma``).
    """
    check_choice("eight_schools variant", variant, VARIANTS)
    check_choice("parameterization", parameterization, PARAMETERIZATIONS)
    what = "eight_schools data"
    df = load_data() if data is None else require_frame(data, what)
    require_columns(df, [group, outcome, sigma], what)
    distinct_columns(what, outcome=outcome, group=group, sigma=sigma)
    not_reserved(what, [sigma], PRIORS)
    labels = text_labels(label_column(df, group, what, unique=True).tolist(), group, what)
    if len(labels) < 2:  # tau, the spread between schools, needs two schools at least
        raise DataError(f"{what}: column {group!r} must hold at least 2 schools to estimate the spread "
                        f"between schools (tau), got {len(labels)}")
    dim = group_dim(group, (), what)
    effects = numeric_column(df, outcome, what)
    errors = numeric_column(df, sigma, what, positive=True)
    scales = prior_scales(PRIORS, priors)
    # each school's own estimate and its known variance: tau's REML pilot
    centered, choice = resolve(parameterization, len(df),
                               lambda: [choose("theta", "tau", effects, errors**2)], dim)
    return StanData(
        program="eight_schools",
        data={"J": len(df), "y": effects, "sigma": errors, **scales, "prior_only": 0, "pointwise": 0,
              **centered},
        outcome=outcome,
        observed=effects,
        coords={dim: labels},
        dims={"theta": [dim], "z_theta": [dim], outcome: [dim], sigma: [dim]},
        constant={sigma: errors, **scales},
        attrs={"family": FAMILY, "variant": variant, "parameterization": parameterization,
               "parameterization_choice": choice, "group_dim": dim,
               **column_attrs(outcome=outcome, group=group, sigma=sigma)},
        # at 0.8 the non-centered variant still diverges once or twice in 4000 draws
        rows=df.copy(),
        adapt_delta=0.95,
        divergence_advice=advice(parameterization),
    )


def simulate(truth: dict[str, float] | None = None, *, data: pd.DataFrame | None = None,
             seed: Seed = 0) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Effects drawn from the model at a real design (default: the shipped schools and standard
    errors): theta_j ~ normal(mu, tau), y_j ~ normal(theta_j, sigma_j). ``truth`` sets mu and tau
    (defaults 5 and 5). Returns the data, with ``y`` replaced, and the truth with theta.
    ``seed`` is numpy.random.default_rng's (a Generator is used as it is)."""
    frame = load_data() if data is None else data.copy()
    values = {"mu": 5.0, "tau": 5.0}
    for name, value in (truth or {}).items():
        check_choice("eight_schools simulation parameter", name, values)
        values[name] = float(value)
    rng = np.random.default_rng(seed)
    theta = rng.normal(values["mu"], values["tau"], len(frame))
    frame["y"] = rng.normal(theta, numeric_column(frame, "sigma", "simulation design", positive=True))
    return frame, {**values, "theta": theta}


def simulate_prior(data: pd.DataFrame | None = None, *, variant: str = "hierarchical",
                   priors: dict[str, float] | None = None,
                   seed: Seed = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """mu and tau drawn from the program's prior, then the schools' effects and estimates from
    them (:func:`simulate`): one draw of the joint model, for simulation-based calibration.

    mu ~ normal(0, mu_scale), tau ~ half-Cauchy(0, tau_scale), as ``fit(priors=priors)`` uses
    them. The defaults give ordinary data: only a tau from far in the half-Cauchy's tail (about
    one draw in 1e11) would put some y beyond 1e12, which :func:`stan_data` refuses; nothing
    here trims it.

    Parameters
    ----------
    data
        The design: school labels and standard errors (columns ``school``, ``sigma``; default:
        the shipped data). Its ``y`` is replaced; the frame passed in is not modified.
    variant
        ``"hierarchical"``, the one variant.
    priors
        Overrides of :data:`PRIORS`, as in :func:`stan_data`.
    seed
        Seed of ``numpy.random.default_rng`` (or a Generator): the same seed, the same output.

    Returns
    -------
    data : pandas.DataFrame
        The design with ``y`` simulated.
    truth : dict of numpy.ndarray
        mu, tau (0-d) and theta (one per school, in the fit's order).
    """
    supported_variant(FAMILY, variant, VARIANTS, VARIANTS)
    scales = prior_scales(PRIORS, priors)
    frame = design_frame(data, load_data, "y", "eight_schools design")
    stan_data(frame, priors=scales, parameterization="centered")  # the design checked as fit checks it
    rng = generator(seed)
    mu = rng.normal(0.0, scales["mu_scale"])
    tau = half_cauchy(rng, scales["tau_scale"])
    frame, truth = simulate({"mu": mu, "tau": tau}, data=frame, seed=rng)
    return frame, as_truth(truth, ("mu", "tau", "theta"))


def funnel_plot(idata: az.InferenceData, ax: Axes, school: int = 0) -> Axes:
    """log tau against theta of one school, divergent draws marked: where the funnel bites."""
    theta = draws_of(idata.posterior["theta"], idata.posterior.attrs["group_dim"])[:, school]
    log_tau = np.log(idata.posterior["tau"].values.ravel())
    divergent = idata.sample_stats["diverging"].values.ravel()
    ax.scatter(theta[~divergent], log_tau[~divergent], s=4, alpha=0.3, color="C0", label="draw")
    ax.scatter(theta[divergent], log_tau[divergent], s=12, color="C3",
               label=f"divergent ({divergent.sum()})")
    label = idata.posterior[idata.posterior.attrs["group_dim"]].values[school]
    ax.set(xlabel=f"theta[{label}]", ylabel="log tau", title=idata.posterior.attrs.get("parameterization"))
    ax.legend(loc="lower left")
    return ax


def running_mean_plot(idata: az.InferenceData, ax: Axes) -> Axes:
    """Running mean of log tau per chain: a centered fit drifts where it sticks in the funnel."""
    log_tau = np.log(idata.posterior["tau"].values)
    steps = np.arange(1, log_tau.shape[1] + 1)
    for chain, values in enumerate(log_tau):
        ax.plot(steps, np.cumsum(values) / steps, lw=1, label=f"chain {chain + 1}")
    ax.set(xlabel="draw", ylabel="running mean of log tau",
           title=idata.posterior.attrs.get("parameterization"))
    ax.legend(loc="upper right", fontsize="small")
    return ax


def _predict(idata: az.InferenceData, newdata: pd.DataFrame, rng: np.random.Generator) -> Prediction:
    """A school's effect theta (a new school's from normal(mu, tau)); its estimate ~ normal(theta,
    sigma) with the new rows' standard errors."""
    post = idata.posterior
    group, sigma = data_column(idata, "group"), data_column(idata, "sigma")
    require_columns(newdata, [group, sigma], "new data")
    errors = numeric_column(newdata, sigma, "new data", positive=True)

    def new(unseen: list[str]) -> dict[str, np.ndarray]:
        mu, tau = draws_of(post["mu"])[:, None], draws_of(post["tau"])[:, None]
        return {"theta": mu + tau * rng.standard_normal((len(mu), len(unseen)))}

    theta = group_draws(idata, newdata[group], ["theta"], new)["theta"]
    return Prediction.normal(theta, errors)


family = Family(name=FAMILY, description=DESCRIPTION, prepare=stan_data, load_data=load_data,
                variants=VARIANTS, parameterizations=PARAMETERIZATIONS, priors=PRIORS,
                columns={"outcome": "y", "group": "school", "sigma": "sigma"}, simulate=simulate,
                simulate_prior=simulate_prior, predict=_predict)
fit = family.fit
