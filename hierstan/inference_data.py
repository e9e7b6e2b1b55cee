"""The one place where raw draws become labelled ArviZ InferenceData, whichever engine ran."""

from __future__ import annotations

from typing import Any

import arviz as az
import numpy as np

from .engines import RawDraws, SamplerSettings
from .stan_data import StanData

# Stan's sampler columns under ArviZ's names
SAMPLE_STATS = {
    "lp__": "lp",
    "accept_stat__": "acceptance_rate",
    "stepsize__": "step_size",
    "treedepth__": "tree_depth",
    "n_leapfrog__": "n_steps",
    "divergent__": "diverging",
    "energy__": "energy",
}
GENERATED = ("log_lik", "y_rep")


def _sample_stats(raw: RawDraws) -> dict[str, np.ndarray]:
    stats = {SAMPLE_STATS.get(name, name.strip("_")): values for name, values in raw.sampler.items()}
    for name, kind in (("diverging", bool), ("tree_depth", int), ("n_steps", int)):
        if name in stats:
            stats[name] = stats[name].astype(kind)
    return stats


def _parameters(raw: RawDraws, stan_data: StanData) -> dict[str, np.ndarray]:
    variables = {name: values for name, values in raw.variables.items() if name not in GENERATED}
    return stan_data.regroup(variables) if stan_data.regroup else variables


def _pointwise(raw: RawDraws, name: str, outcome: str) -> dict[str, np.ndarray]:
    """``name`` under the outcome's name; nothing if the program was told not to generate it
    (a program sizes its pointwise arrays 0 to save writing them; engines leave those out)."""
    return {outcome: raw.variables[name]} if name in raw.variables else {}


def _netcdf_safe(attrs: dict[str, Any]) -> dict[str, Any]:
    # netCDF attributes take strings and numbers only
    return {k: int(v) if isinstance(v, bool) else v for k, v in attrs.items() if v is not None}


def to_inference_data(
    stan_data: StanData,
    settings: SamplerSettings,
    posterior: RawDraws,
    prior: RawDraws | None = None,
) -> az.InferenceData:
    """Labelled InferenceData from the draws of ``stan_data``'s program."""
    outcome = stan_data.outcome
    groups: dict[str, Any] = {
        "posterior": _parameters(posterior, stan_data),
        "sample_stats": _sample_stats(posterior),
        "log_likelihood": _pointwise(posterior, "log_lik", outcome),
        "posterior_predictive": _pointwise(posterior, "y_rep", outcome),
        "observed_data": {outcome: stan_data.observed},
        "constant_data": stan_data.constant,
    }
    if prior is not None:
        groups["prior"] = _parameters(prior, stan_data)
        groups["sample_stats_prior"] = _sample_stats(prior)
        groups["prior_predictive"] = _pointwise(prior, "y_rep", outcome)
    groups = {name: group for name, group in groups.items() if group}
    attrs = {
        **stan_data.attrs,
        "outcome": stan_data.outcome,
        "program": stan_data.program,
        "divergence_advice": stan_data.divergence_advice,
        "engine": posterior.engine,
        "engine_version": posterior.engine_version,
        "seed": settings.seed,
        "chains": settings.chains,
        "draws": settings.draws,
        "warmup": settings.warmup,
        "adapt_delta": settings.adapt_delta,
        "adaptation": posterior.adaptation_method,
        "metric": settings.metric or "diag",
        "max_treedepth": settings.max_treedepth,
        "build_seconds": posterior.seconds.get("build"),
        "sampling_seconds": posterior.seconds.get("sample"),
        "compiled_now": posterior.compiled_now,
    }
    attrs = _netcdf_safe(attrs)
    return az.from_dict(
        **groups, coords=_arrays(stan_data.coords), dims=stan_data.dims,
        posterior_attrs=attrs, sample_stats_attrs={**attrs, **_adaptation(posterior)},
    )


def _arrays(coords: dict[str, Any]) -> dict[str, np.ndarray]:
    """The coordinates as the arrays xarray makes of them (np.asarray): ArviZ deep-copies every
    coordinate for every variable, which for a list (the math test's 1993 student labels) costs
    a Python call per label and per variable, for an array one copy."""
    return {dim: np.asarray(values) for dim, values in coords.items()}


def _adaptation(raw: RawDraws) -> dict[str, Any]:
    """The adapted step size per chain and diagonal inverse metric, flattened chain by chain
    (netCDF attributes hold 1-D arrays only): ``inv_metric.reshape(chains, -1)``."""
    found = {"adapted_step_size": raw.adaptation.get("step_size"),
             "inv_metric": raw.adaptation.get("inv_metric")}
    found = {name: np.asarray(value, dtype=float).ravel() for name, value in found.items()
             if value is not None}
    for name, values in raw.warmup.items():  # iterations, gradients (-1: not counted), seconds
        found[f"warmup_{name}"] = np.asarray(values, dtype=float)
    if raw.rejections is not None:
        found["rejected_proposals"] = raw.rejections
    return found


def outcome_name(idata: az.InferenceData) -> str:
    """The observed variable's name (the user's outcome column)."""
    return idata.posterior.attrs.get("outcome") or next(iter(idata.observed_data.data_vars))
