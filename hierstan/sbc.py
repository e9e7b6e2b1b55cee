"""Simulation-based calibration (Talts et al. 2018) of a family's model, fits run on Dask.

Each simulation draws every parameter from the prior and data from them (the family's
``simulate_prior``, numpy code apart from the Stan program), fits the data, and records the
rank of each true value among ``keep`` posterior draws thinned from the chains. If the model,
its priors-as-data, its transforms and the engine are right, every rank is uniform on
0..keep. The uniformity test is a chi-square test of the ranks in bins, per parameter, with
Holm's correction for the number of parameters; the plots are ArviZ's ECDF differences with
simultaneous 95% bands (Säilynoja, Bürkner & Vehtari 2022).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from . import many_fits
from .diagnostics import quiet_arviz
from .errors import DataError, HierstanError
from .family import Family
from .files import write_text, write_whole
from .post_estimation import is_internal

ALPHA = 0.05  # family-wise level of the uniformity tests (Holm over the parameters)


@dataclass
class SBCResult:
    """What :func:`hierstan.sbc` found: ``ranks`` (one row per simulation and parameter), ``fits`` (one
    row per simulation: status, reason, divergences, worst ESS and R-hat, seconds) and ``tests``
    (one row per parameter: the chi-square test and whether the ECDF leaves its band)."""

    family: str
    variant: str
    ranks: pd.DataFrame
    fits: pd.DataFrame
    tests: pd.DataFrame
    keep: int
    bins: int

    def summary(self) -> str:
        """A few lines: the size, the test and its multiplicity, and what failed it."""
        failed = self.fits["status"].eq("failed").sum()
        divergent = self.fits["status"].eq("divergent").sum()
        flagged = self.tests.loc[~self.tests["uniform"], "parameter"].tolist()
        k = len(self.tests)
        lines = [
            f"SBC of {self.family} ({self.variant}): {len(self.fits)} simulations, "
            f"{len(self.fits) - failed} fitted ({divergent} with divergences, kept), {failed} failed; "
            f"ranks among {self.keep} thinned posterior draws",
            f"test: chi-square of the ranks in {self.bins} bins per parameter, Holm's correction for "
            f"{k} parameters at family-wise level {ALPHA}",
            "ranks uniform for every parameter" if not flagged else
            f"NOT uniform ({len(flagged)} of {k}): {', '.join(flagged[:10])}"
            + (" ..." if len(flagged) > 10 else ""),
            f"ECDF outside its simultaneous 95% band: {int(self.tests['outside_band'].sum())} of {k} "
            f"parameters (about 5% expected by chance, per parameter)",
        ]
        return "\n".join(lines)

    def plot(self, parameters: list[str] | None = None, columns: int = 4) -> Figure:
        """ECDF difference of each parameter's scaled ranks against the uniform, with ArviZ's
        simultaneous 95% band. Default: every scalar and the first element of every vector."""
        from matplotlib.figure import Figure

        chosen = parameters or _first_elements(self.tests)
        if not chosen:
            raise HierstanError("no parameter to plot: no simulation was fitted")
        rows = -(-len(chosen) // columns)
        # not pyplot's: a figure of its own, shown once in a notebook and never left open
        figure = Figure(figsize=(3.2 * min(columns, len(chosen)), 2.6 * rows), layout="constrained")
        axes = figure.subplots(rows, min(columns, len(chosen)), squeeze=False)
        rng = np.random.default_rng(0)
        tests = self.tests.set_index("parameter")
        for ax, name in zip(axes.ravel(), chosen):
            ranks = self.ranks.loc[self.ranks["parameter"] == name, "rank"].to_numpy(float)
            # ranks are discrete; spread each over its bin so that calibrated ranks are uniform(0, 1)
            scaled = (ranks + rng.random(len(ranks))) / (self.keep + 1)
            az.plot_ecdf(scaled, eval_points=np.linspace(0, 1, 101), cdf=stats.uniform().cdf,
                         difference=True, confidence_bands=True,
                         ci_prob=0.95, ax=ax)
            ax.set_title(f"{name}  (p = {tests.loc[name, 'p_value']:.2g})", fontsize="small")
            ax.set_xlabel("scaled rank")
        for ax in axes.ravel()[len(chosen):]:
            ax.set_visible(False)
        figure.suptitle(f"SBC, {self.family} ({self.variant}): ECDF difference of the ranks, "
                        f"{self.fits['status'].ne('failed').sum()} simulations")
        return figure

    def write(self, folder: str | Path) -> list[Path]:
        """ranks.csv, fits.csv, tests.csv, summary.txt and ecdf.png into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, table in (("ranks", self.ranks), ("fits", self.fits), ("tests", self.tests)):
            written.append(folder / f"{name}.csv")
            write_whole(written[-1], lambda path, table=table: table.to_csv(path, index=False), "the result")
        written.append(folder / "summary.txt")
        write_text(written[-1], self.summary() + "\n", "the result")
        if len(self.ranks):
            figure = self.plot()
            written.append(folder / "ecdf.png")
            write_whole(written[-1], lambda path: figure.savefig(path, dpi=90), "the result")
        return written


def sbc(
    family: str | Family,
    *,
    variant: str | None = None,
    n_sims: int = 100,
    data: pd.DataFrame | None = None,
    priors: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    simulator: Callable[..., tuple[pd.DataFrame, dict[str, Any]]] | None = None,
    keep: int = 99,
    seed: int = 0,
    engine: str = "auto",
    chains: int = 4,
    draws: int = 250,
    warmup: int = 500,
    adapt_delta: float | None = None,
    metric: str | None = None,
    folder: str | Path | None = None,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> SBCResult:
    """Simulation-based calibration of ``family``'s ``variant`` (default: the family's default).

    Parameters
    ----------
    family
        A family or its name (``hierstan.FAMILIES``).
    n_sims
        Simulations: parameters drawn from the prior, data drawn from them, one fit each.
    data
        The design the data are simulated at (the family's default column names; the outcome is
        replaced): default the shipped data. Smaller designs make cheaper fits.
    priors
        The prior values, as ``fit`` takes them: used both to simulate and to fit.
    options
        The family's other data arguments, used both to simulate and to fit (glmm: ``formula``,
        ``likelihood``, ``trials``).
    simulator
        ``simulator(data, seed=...) -> (frame, truth)`` instead of the family's
        ``simulate_prior`` with ``variant`` and ``priors``; e.g. a deliberately wrong one, to see
        SBC detect it.
    keep
        Posterior draws each true value is ranked among, thinned evenly from every chain
        (``chains * draws`` must be at least ``keep``).
    seed
        Seeds every simulation and fit (a simulation's seeds depend on ``seed`` and its number
        alone, so a resumed or extended run gives the same draws).
    engine, chains, draws, warmup, adapt_delta, metric
        As in ``fit``; every fit runs its chains in one thread.
    folder
        Where each fit's record is written as it arrives, and the tables and plot at the end;
        a rerun with the same folder and settings resumes (runs only what is missing or failed).
    client, scheduler, workers
        A Dask client, or a scheduler address (``tcp://host:port``), or else a LocalCluster of
        ``workers`` single-threaded processes (default: one per core).
    """
    from .models import get_family

    chosen = family if isinstance(family, Family) else get_family(family)
    variant = chosen.variants[0] if variant is None else variant
    for name, value, low in (("n_sims", n_sims, 1), ("keep", keep, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise DataError(f"sbc: {name} must be an integer >= {low}, got {value!r}")
    if chains * draws < keep:
        raise DataError(f"sbc: chains * draws ({chains * draws}) must be at least keep ({keep})")
    if simulator is None:
        if chosen.simulate_prior is None:
            raise HierstanError(f"{chosen.name} has no simulate_prior to draw data from its prior")
        simulator = functools.partial(chosen.simulate_prior, variant=variant,
                                      priors=dict(priors) if priors else None, **dict(options or {}))
    design = chosen.load_data() if data is None else data.copy()
    # fail here, before the fan-out, on a design or prior the family refuses, and build the
    # program once so that the workers only load it
    example, _ = simulator(design, seed=_seeds(seed, 0)[0])
    prepared = chosen.prepare(example, variant=variant, **({"priors": dict(priors)} if priors else {}),
                              **dict(options or {}))
    many_fits.build(prepared.program, engine, progress)
    arguments = {"family": chosen.name, "variant": variant, "priors": dict(priors) if priors else None,
                 "design": design, "simulator": simulator, "keep": keep, "engine": engine,
                 "chains": chains, "draws": draws, "warmup": warmup, "adapt_delta": adapt_delta,
                 "metric": metric, "options": dict(options or {})}
    tasks = {f"sim_{i:05d}": {**arguments, "seeds": _seeds(seed, i)} for i in range(n_sims)}
    settings = {"what": "sbc", "family": chosen.name, "variant": variant, "priors": arguments["priors"],
                "simulator": _describe(simulator), "keep": keep, "seed": seed, "engine": engine,
                "chains": chains, "draws": draws, "warmup": warmup, "adapt_delta": adapt_delta,
                "design_rows": len(design), **({"metric": metric} if metric else {}),
                **({"options": dict(options)} if options else {})}
    records = many_fits.run(_simulate_and_fit, tasks, folder=folder, settings=settings, client=client,
                            scheduler=scheduler, workers=workers, progress=progress,
                            what=f"SBC {chosen.name}")
    result = _collect(chosen.name, variant, records, keep)
    if folder is not None:
        result.write(folder)
    return result


def _seeds(seed: int, simulation: int) -> tuple[int, int]:
    """The simulation's and its fit's seeds, from the run's seed and the simulation's number."""
    state = np.random.SeedSequence([seed, simulation]).generate_state(2)
    return int(state[0]), int(state[1] % 2**31)


def _describe(simulator: Callable[..., Any]) -> str:
    if isinstance(simulator, functools.partial):
        inner = _describe(simulator.func)
        return f"{inner}({', '.join(f'{k}={v!r}' for k, v in sorted(simulator.keywords.items()))})"
    return f"{getattr(simulator, '__module__', '?')}.{getattr(simulator, '__qualname__', repr(simulator))}"


def _simulate_and_fit(*, family: str, variant: str, priors: dict[str, Any] | None, design: pd.DataFrame,
                      simulator: Callable[..., Any], seeds: tuple[int, int], keep: int, engine: str,
                      chains: int, draws: int, warmup: int, adapt_delta: float | None,
                      metric: str | None = None, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One simulation on a worker: draw, fit (single-threaded, quietly), rank every parameter."""
    from .models import get_family

    frame, truth = simulator(design, seed=seeds[0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        idata = get_family(family).fit(frame, variant=variant, **({"priors": priors} if priors else {}),
                                       **dict(options or {}),
                                       engine=engine, chains=chains, draws=draws, warmup=warmup,
                                       seed=seeds[1], adapt_delta=adapt_delta, metric=metric,
                                       progress=False, threads=1)
    ranks, variables = ranks_of(idata.posterior, truth, keep)
    divergences = int(idata.sample_stats["diverging"].sum())
    names = [n for n in truth if n in idata.posterior]
    with quiet_arviz():  # the constant diagonal of a correlation matrix: NaN, which nanmin skips
        ess = az.ess(idata, var_names=names, method="bulk")
        rhat = az.rhat(idata, var_names=names)
    return {"status": "divergent" if divergences else "ok", "divergences": divergences,
            "min_ess_bulk": float(min(np.nanmin(ess[n].values) for n in names)),
            "max_rhat": float(max(np.nanmax(rhat[n].values) for n in names)),
            "warnings": sorted({str(w.message).splitlines()[0] for w in caught}),
            "ranks": ranks, "variables": variables}


def ranks_of(posterior: Any, truth: Mapping[str, Any], keep: int) -> tuple[dict[str, int], dict[str, str]]:
    """Rank of each true value among ``keep`` posterior draws thinned evenly from every chain,
    per scalar element (``theta[A]``); elements that are constant (a correlation's diagonal)
    or repeat another (a symmetric matrix's upper triangle) are left out."""
    ranks, variables = {}, {}
    for name, value in truth.items():
        if name not in posterior or is_internal(name):
            continue
        draws = posterior[name]
        dims = [d for d in draws.dims if d not in ("chain", "draw")]
        array = draws.transpose("chain", "draw", *dims).values
        value = np.asarray(value, dtype=float)
        if value.shape != array.shape[2:]:
            raise HierstanError(f"the simulator's {name} has shape {value.shape}, the posterior's "
                                f"{array.shape[2:]}")
        chains, count = array.shape[:2]
        step = max(1, chains * count // keep)
        thinned = array[:, ::step].reshape(-1, *array.shape[2:])[:keep]
        if len(thinned) < keep:
            raise HierstanError(f"only {len(thinned)} draws to rank among, {keep} asked")
        labels = [draws[d].values for d in dims]
        symmetric = len(dims) == 2 and np.array_equal(labels[0], labels[1])
        for index in np.ndindex(*value.shape):
            if symmetric and index[0] < index[1]:
                continue
            column = thinned[(slice(None), *index)]
            # constant up to rounding: a correlation's diagonal (Stan computes L L', so 1 +- 1e-16)
            if np.allclose(column, column[0], rtol=1e-12, atol=1e-12):
                continue
            where = ", ".join(str(labels[k][i]) for k, i in enumerate(index))
            label = f"{name}[{where}]" if index else name
            ranks[label] = int(np.sum(column < value[index]))
            variables[label] = name
    return ranks, variables


def _collect(family: str, variant: str, records: Mapping[str, Mapping[str, Any]], keep: int) -> SBCResult:
    rows, fits = [], []
    for number, (key, record) in enumerate(records.items()):
        fits.append({"simulation": number, "key": key, "status": record["status"],
                     "reason": record.get("reason", ""), "divergences": record.get("divergences"),
                     "min_ess_bulk": record.get("min_ess_bulk"), "max_rhat": record.get("max_rhat"),
                     "seconds": record.get("seconds"), "worker": record.get("worker"),
                     "warnings": "; ".join(record.get("warnings", []))})
        for parameter, rank in record.get("ranks", {}).items():
            rows.append({"simulation": number, "parameter": parameter,
                         "variable": record["variables"][parameter], "rank": rank,
                         "status": record["status"]})
    ranks = pd.DataFrame(rows, columns=["simulation", "parameter", "variable", "rank", "status"])
    bins = _bins(ranks["simulation"].nunique(), keep)
    tests = uniformity_tests(ranks, keep, bins)
    return SBCResult(family=family, variant=variant, ranks=ranks, fits=pd.DataFrame(fits), tests=tests,
                     keep=keep, bins=bins)


def _bins(simulations: int, keep: int) -> int:
    """At most 20 bins, at least 5 expected ranks in each, and never more than the rank values."""
    return int(max(2, min(20, simulations // 5, keep + 1)))


def uniformity_tests(ranks: pd.DataFrame, keep: int, bins: int) -> pd.DataFrame:
    """Per parameter: the chi-square test of its ranks (0..keep) in ``bins`` bins of rank values
    (expected counts exact where the bins hold unequal numbers of values), Holm's adjusted p over
    all parameters, and whether the ECDF leaves ArviZ's simultaneous 95% band."""
    from arviz.stats.ecdf_utils import ecdf_confidence_band

    values = np.arange(keep + 1)
    bin_of = values * bins // (keep + 1)
    expected_share = np.bincount(bin_of, minlength=bins) / (keep + 1)
    points = np.arange(1, keep + 1) / (keep + 1)
    bands: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    rows = []
    for parameter, group in ranks.groupby("parameter", sort=False):
        found = group["rank"].to_numpy(int)
        n = len(found)
        observed = np.bincount(found * bins // (keep + 1), minlength=bins)
        statistic, p = stats.chisquare(observed, expected_share * n)
        if n not in bands:
            bands[n] = ecdf_confidence_band(n, points, points, prob=0.95, method="optimized")
        low, high = bands[n]
        ecdf = (found[None, :] < np.arange(1, keep + 1)[:, None]).mean(axis=1)
        rows.append({"parameter": parameter, "variable": group["variable"].iloc[0], "n": n,
                     "chi2": float(statistic), "p_value": float(p),
                     "outside_band": bool(np.any((ecdf < low - 1e-12) | (ecdf > high + 1e-12)))})
    tests = pd.DataFrame(rows, columns=["parameter", "variable", "n", "chi2", "p_value", "outside_band"])
    tests["p_holm"] = _holm(tests["p_value"].to_numpy())
    tests["uniform"] = tests["p_holm"] >= ALPHA
    return tests


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error over all the tests)."""
    if not len(p):
        return p
    order = np.argsort(p)
    adjusted = np.maximum.accumulate(np.minimum(1, p[order] * (len(p) - np.arange(len(p)))))
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out


def _first_elements(tests: pd.DataFrame) -> list[str]:
    """Each variable's first tested element (the scalar itself for a scalar)."""
    return tests.groupby("variable", sort=False)["parameter"].first().tolist()
