"""K-fold cross-validation of a family's model, the fits run on Dask (hierstan.many_fits).

PSIS-LOO leans on importance sampling, which fails where one row moves the posterior a lot: in
hierarchical data, the rows of small groups (radon's counties of one or two houses). K-fold
refits without each fold instead. Folds are either stratified by the group column (each group's
rows dealt evenly over the folds: how well a new row of a known group is predicted, the question
LOO answers) or leave-group-out (``by=<column>``: whole groups held out, so their effects come from
the population: how well a new group is predicted). Held-out rows are scored with the family's
``predict`` (the same code as ``hierstan.predict``), each row's elpd being
log mean_s p(y_i | draw s).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from arviz.stats.stats_utils import ELPDData
from scipy.special import logsumexp

from . import many_fits
from .diagnostics import psis_loo
from .errors import DataError, HierstanError
from .family import Family
from .inference_data import outcome_name
from .validation import listed


def kfold(
    model: str | Family | az.InferenceData,
    data: pd.DataFrame | None = None,
    *,
    K: int = 10,
    by: str | None = None,
    seed: int = 0,
    engine: str = "auto",
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    adapt_delta: float | None = None,
    folder: str | Path | None = None,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    **options: Any,
) -> KFoldResult:
    """K-fold elpd of a model: a family (or its name) with its data ``options`` (variant,
    priors, column names, ...), or a fit, whose family and options are reused (``data`` must then
    be the data it was fitted to: default the shipped data, checked against the fit's outcome).

    ``by=None`` makes folds stratified by the family's group column; ``by=<column>`` holds out
    whole groups of that column (leave-group-out; ``K`` at most the number of groups). Also fits
    the whole data once, for ``p_kfold`` (the full fit's lppd minus elpd_kfold) and its LOO.

    Returns a :class:`~hierstan.kfold.KFoldResult`; compare models with
    :func:`hierstan.kfold.compare`. Sampler, Dask and ``folder`` arguments are as in :func:`hierstan.sbc`.
    """
    from .models import get_family

    if isinstance(model, az.InferenceData):
        family = get_family(str(model.posterior.attrs.get("family", "?")))
        options = {**_options_of(model, family), **options}
    else:
        family = model if isinstance(model, Family) else get_family(model)
    frame = family.load_data() if data is None else data.copy()
    if isinstance(model, az.InferenceData):
        _check_same_data(model, frame)
    prepared = family.prepare(frame, **options)  # refuses bad data or options before any fit
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or not 2 <= K <= len(frame):
        raise DataError(f"kfold: K must be an integer from 2 to the number of rows ({len(frame)}), got {K!r}")
    group = options.get("group", family.columns.get("group"))
    folds = fold_ids(frame, K, by=by, group=group, seed=seed)
    many_fits.build(prepared.program, engine, progress)
    sampler = {"engine": engine, "chains": chains, "draws": draws, "warmup": warmup,
               "adapt_delta": adapt_delta}
    common = {"family": family.name, "frame": frame, "options": options, "folds": folds, "seed": seed,
              "sampler": sampler}
    tasks = {f"fold_{k:03d}": {**common, "fold": k} for k in range(K)}
    tasks["full"] = {**common, "fold": None}
    settings = {"what": "kfold", "family": family.name, "options": options, "K": K, "by": by, "seed": seed,
                **sampler, "rows": len(frame)}
    records = many_fits.run(_fit_fold, tasks, folder=folder, settings=settings, client=client,
                            scheduler=scheduler, workers=workers, progress=progress,
                            what=f"K-fold {family.name}")
    failed = {key: r["reason"] for key, r in records.items() if r["status"] == "failed"}
    if failed:
        raise HierstanError(f"kfold: {len(failed)} fit(s) failed, so the elpd is incomplete: "
                            + "; ".join(f"{k}: {v}" for k, v in list(failed.items())[:3]))
    pointwise = np.full(len(frame), np.nan)
    for k in range(K):
        record = records[f"fold_{k:03d}"]
        pointwise[np.asarray(record["rows"], dtype=int)] = record["elpd"]
    full = records["full"]
    n = len(pointwise)
    return KFoldResult(
        elpd_kfold=float(pointwise.sum()), se=float(np.sqrt(n * np.var(pointwise))),
        p_kfold=float(full["lppd"] - pointwise.sum()),
        pointwise=xr.DataArray(pointwise, dims=["row"], coords={"row": frame.index.to_numpy()}),
        K=K, folds_by=f"groups of {by}" if by else f"rows, stratified by {group}", folds=folds,
        loo=dict(full["loo"]), n_samples=chains * draws,
        divergences=int(sum(r.get("divergences", 0) for r in records.values())))


@dataclass(frozen=True)
class KFoldResult:
    """K-fold's answer: the elpd, its SE, the effective number of parameters (the full fit's
    lppd minus elpd_kfold), each row's elpd (``pointwise``) and fold, and the full fit's LOO
    (``loo``: elpd_loo, se, p_loo, and the rows with Pareto k above 0.7)."""

    elpd_kfold: float
    se: float
    p_kfold: float
    pointwise: xr.DataArray
    K: int
    folds_by: str
    folds: np.ndarray
    loo: dict[str, float]
    n_samples: int
    divergences: int

    def __str__(self) -> str:
        return (f"{self.K}-fold cross-validation ({self.folds_by}), {self.pointwise.size} rows, "
                f"{self.n_samples} draws per fit, {self.divergences} divergences over the fits\n"
                f"elpd_kfold {self.elpd_kfold:.2f} (SE {self.se:.2f}), p_kfold {self.p_kfold:.2f}\n"
                f"the full fit's LOO: elpd_loo {self.loo['elpd_loo']:.2f} (SE {self.loo['se']:.2f}), "
                f"{self.loo['pareto_k_above_0.7']} rows with Pareto k > 0.7")


def fold_ids(frame: pd.DataFrame, K: int, *, by: str | None, group: str | None, seed: int) -> np.ndarray:
    """Each row's fold, 0..K-1. ``by``: whole groups of that column to folds (groups shuffled,
    then each to the fold with the fewest rows so far). Otherwise rows shuffled within each group
    of ``group`` and dealt to the folds in turn, continuing from group to group (every fold gets
    its share of every group, and of the rows overall)."""
    rng = np.random.default_rng(seed)
    if by is not None:
        if by not in frame.columns:
            raise DataError(f"kfold: by={by!r} is not a column of the data "
                            f"({listed(frame.columns, 20, str)})")
        codes, labels = pd.factorize(frame[by].astype(str))
        if len(labels) < K:
            raise DataError(f"kfold: leave-group-out folds by {by!r} need K <= the number of groups "
                            f"({len(labels)}), got K={K}")
        sizes = np.bincount(codes)
        load = np.zeros(K)
        fold_of_group = np.empty(len(labels), dtype=int)
        for g in rng.permutation(len(labels)):
            fold_of_group[g] = int(np.argmin(load))
            load[fold_of_group[g]] += sizes[g]
        return fold_of_group[codes]
    keys = frame[group].astype(str).to_numpy() if group in frame.columns else np.zeros(len(frame))
    order = np.lexsort((rng.random(len(frame)), pd.factorize(keys)[0]))
    folds = np.empty(len(frame), dtype=int)
    folds[order] = (np.arange(len(frame)) + rng.integers(K)) % K
    return folds


def _fit_fold(*, family: str, frame: pd.DataFrame, options: dict[str, Any], folds: np.ndarray,
              fold: int | None, seed: int, sampler: dict[str, Any]) -> dict[str, Any]:
    """Fit without fold ``fold`` and score its rows; ``None``: the full fit's lppd and LOO."""
    import warnings

    from .models import get_family

    chosen = get_family(family)
    train = frame if fold is None else frame[folds != fold]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        idata = chosen.fit(train, seed=seed + (0 if fold is None else fold + 1), progress=False, threads=1,
                           **sampler, **options)
        divergences = int(idata.sample_stats["diverging"].sum())
        if fold is None:
            log_lik = idata.log_likelihood[outcome_name(idata)]
            samples = log_lik.sizes["chain"] * log_lik.sizes["draw"]
            flat = log_lik.values.reshape(samples, -1)
            loo = psis_loo(idata)  # its rows of high Pareto k are counted: K-fold is their remedy
            lppd = float(np.sum(logsumexp(flat, axis=0) - np.log(samples)))
            return {"divergences": divergences, "lppd": lppd,
                    "loo": {"elpd_loo": float(loo["elpd_loo"]), "se": float(loo["se"]),
                            "p_loo": float(loo["p_loo"]),
                            "pareto_k_above_0.7": int(np.sum(loo["pareto_k"].values > 0.7))},
                    "warnings": sorted({str(w.message).splitlines()[0] for w in caught})}
    held = frame[folds == fold]
    prediction = chosen.predict(idata, held, np.random.default_rng(seed + fold))
    observed = held[options.get("outcome", chosen.columns["outcome"])].to_numpy(dtype=float)
    density = prediction.log_density(observed, prediction.linear)  # (samples, held-out rows)
    elpd = logsumexp(density, axis=0) - np.log(density.shape[0])
    return {"divergences": divergences, "rows": np.flatnonzero(folds == fold).tolist(), "elpd": elpd.tolist(),
            "warnings": sorted({str(w.message).splitlines()[0] for w in caught})}


def compare(results: Mapping[str, KFoldResult]) -> pd.DataFrame:
    """``az.compare``'s table for K-fold results (rank, elpd_kfold, p_kfold, elpd_diff, weight,
    se, dse, warning, scale): the same code, so K-fold and LOO tables read alike."""
    if len(results) < 2:
        raise HierstanError("compare needs at least two models")
    sizes = {name: r.pointwise.size for name, r in results.items()}
    if len(set(sizes.values())) != 1:
        raise HierstanError(f"compare needs K-fold results on the same rows, got {sizes}")
    # az.compare takes precomputed LOO results; K-fold's pointwise elpd in their shape, no Pareto k
    as_loo = {name: ELPDData(
        data=[r.elpd_kfold, r.se, r.p_kfold, r.n_samples, r.pointwise.size, False, r.pointwise,
              xr.zeros_like(r.pointwise), "log", 0.7],
        index=["elpd_loo", "se", "p_loo", "n_samples", "n_data_points", "warning", "loo_i", "pareto_k",
               "scale", "good_k"]) for name, r in results.items()}
    table = az.compare(as_loo, ic="loo")
    return table.rename(columns={"elpd_loo": "elpd_kfold", "p_loo": "p_kfold"})


def _options_of(idata: az.InferenceData, family: Family) -> dict[str, Any]:
    """The data arguments a fit was made with, from its attributes and constant data."""
    attrs = idata.posterior.attrs
    options: dict[str, Any] = {}
    for name in ("variant", "parameterization"):
        if name in attrs and name in family.options:
            options[name] = attrs[name]
    for role in family.columns:
        if f"column_{role}" in attrs:
            options[role] = attrs[f"column_{role}"]
    defaults = family.priors.get(attrs.get("variant"), family.priors)
    if all(isinstance(v, dict) for v in defaults.values()):
        defaults = {}
    constant = idata.get("constant_data")
    priors = {name: float(constant[name].values.item()) for name in defaults
              if constant is not None and name in constant and constant[name].size == 1}
    if priors:
        options["priors"] = priors
    return options


def _check_same_data(idata: az.InferenceData, frame: pd.DataFrame) -> None:
    """Refuse data other than the fit's: a K-fold of other rows would be a silent wrong answer."""
    outcome = idata.posterior.attrs.get("column_outcome", outcome_name(idata))
    observed = idata.observed_data[outcome_name(idata)].values
    given = frame[outcome].to_numpy() if outcome in frame.columns else None
    if given is None or given.shape != observed.shape or not np.allclose(given.astype(float), observed):
        raise DataError("kfold: the data given (default: the shipped data) are not the data the fit was made "
                        "from; pass them as data=")
