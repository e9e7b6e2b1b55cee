"""The files of ``results/``: one function per model family fits its variants and writes its tables
and plots into a folder. The families compute (fits, tables, figures); only this module writes files.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from . import models
from .diagnostics import compare_loo, diagnose, quiet_arviz
from .errors import DataWarning
from .files import write_text, write_whole
from .inference_data import outcome_name
from .post_estimation import group_table, is_internal
from .progress import step

# every file goes through hierstan.files.write_whole: whole or not at all, a full disk named
_FIX = ("the files written before it are complete: free space there (or give --out another folder) "
        "and run it again")


def _csv(table: pd.DataFrame, path: Path, **options: Any) -> None:
    write_whole(path, lambda temporary: table.to_csv(temporary, **options), "the result", _FIX)


def _text(path: Path, text: str) -> None:
    write_text(path, text, "the result", _FIX)


def _png(figure: Figure, path: Path, dpi: int) -> None:
    write_whole(path, lambda temporary: figure.savefig(temporary, dpi=dpi), "the result", _FIX)


def _summary(idata: az.InferenceData, **options) -> pd.DataFrame:
    """``az.summary`` without the rows of quantities fixed by construction (the unit diagonal of a
    correlation matrix), whose sd of 1e-17 and R-hat say nothing."""
    with quiet_arviz():  # R-hat and ESS of a constant divide 0 by 0
        table = az.summary(idata, **options)
    return table[~(table["sd"].abs() <= 1e-12 * np.maximum(1.0, table["mean"].abs()))]


def eight_schools(out: Path, **options: Any) -> list[Path]:
    """Fit every parameterization (auto, the default, chooses per school; the plots show the two
    fixed forms) and write the summary, diagnostics and plots into ``out``."""
    fits = {form: models.eight_schools.fit(parameterization=form, **options)
            for form in models.eight_schools.PARAMETERIZATIONS}
    summary = pd.concat(
        {v: _summary(f, var_names=["mu", "tau", "theta"]) for v, f in fits.items()},
        names=["parameterization", "parameter"],
    )
    diagnostics = pd.DataFrame({v: diagnose(f).as_series() for v, f in fits.items()})
    written = [out / "eight_schools_summary.csv", out / "eight_schools_diagnostics.csv",
               out / "eight_schools_diagnostics.md", out / "eight_schools_funnel.png",
               out / "eight_schools_log_tau_running_mean.png"]
    _csv(summary, written[0])
    _csv(diagnostics, written[1])
    _text(written[2], diagnostics.to_markdown() + "\n")
    for path, draw in ((written[3], models.eight_schools.funnel_plot),
                       (written[4], models.eight_schools.running_mean_plot)):
        figure = Figure(figsize=(10, 4), layout="constrained")
        for ax, form in zip(figure.subplots(1, 2, sharey=True), ("centered", "noncentered")):
            draw(fits[form], ax=ax)
        _png(figure, path, dpi=120)
    return written


def _houses(idata: az.InferenceData) -> pd.DataFrame:
    """Per house (by position): county, houses in that county, predictor and outcome."""
    outcome = outcome_name(idata)
    predictor = idata.posterior.attrs["predictor"]
    dim, index = idata.posterior.attrs["group_dim"], idata.posterior.attrs["group_index"]
    county = idata.posterior[dim].values[idata.constant_data[index].values]
    houses = pd.DataFrame({"county": county, predictor: idata.constant_data[predictor].values,
                           outcome: idata.observed_data[outcome].values})
    houses.insert(1, "county_n", houses.groupby("county")["county"].transform("size"))
    return houses


def _loo_markdown(loo: pd.DataFrame, flagged: pd.DataFrame) -> str:
    text = loo.drop(columns=["weight"]).to_markdown() + "\n"
    if len(flagged):
        counts = flagged.groupby("model")["county_n"].describe()[["count", "max"]].astype(int)
        text += ("\nHouses whose Pareto k is too high for PSIS-LOO to trust (all listed in "
                 "radon_loo_pareto_k.csv): count per model, and the size of the largest county "
                 "among them.\n\n"
                 + counts.rename(columns={"count": "houses", "max": "largest county"}).to_markdown() + "\n")
    return text


def radon(out: Path, **options: Any) -> list[Path]:
    """Fit every variant; write summaries, county tables, the LOO comparison and the shrinkage plot."""
    fits = {variant: models.radon.fit(variant=variant, **options) for variant in models.radon.VARIANTS}
    summary = pd.concat(
        {v: _summary(f, var_names=[n for n in f.posterior.data_vars if not is_internal(n)])
         for v, f in fits.items()},
        names=["variant", "parameter"])
    counties = pd.concat({v: group_table(f) for v, f in fits.items() if v != "pooled"},
                         names=["variant", "row"]).reset_index(level="row", drop=True)
    loo, flagged = compare_loo(fits)
    flagged = flagged.join(_houses(fits["varying_intercept"]), on="obs")
    written = [out / "radon_summary.csv", out / "radon_counties.csv", out / "radon_loo.csv",
               out / "radon_loo.md", out / "radon_loo_pareto_k.csv", out / "radon_shrinkage.png"]
    _csv(summary, written[0])
    _csv(counties, written[1])
    _csv(loo, written[2])
    _text(written[3], _loo_markdown(loo, flagged))
    _csv(flagged, written[4], index=False)
    figure = models.radon.shrinkage_plot(fits["unpooled"], fits["varying_intercept"], fits["pooled"])
    _png(figure, written[5], dpi=120)
    return written


def multigroup(out: Path, **options: Any) -> list[Path]:
    """Fit every variant to the default simulation; write the summary and the recovery plot."""
    data, true_w = models.multigroup.simulate()
    fits = {variant: models.multigroup.fit(data, variant=variant, **options)
            for variant in models.multigroup.VARIANTS}
    truth = {f"w[{g}, {c}]": true_w.loc[g, c] for g in true_w.index for c in true_w.columns}
    truth["sigma"] = models.multigroup.NOISE_SD
    shown = {"hierarchical": ["w", "mu_w", "tau", "sigma"]}
    summary = pd.concat(
        {v: _summary(f, var_names=shown.get(v, ["w", "sigma"])) for v, f in fits.items()},
        names=["variant", "parameter"],
    )
    # the truth next to each estimate; pooled w and the population parameters have none
    summary.insert(0, "true", [truth.get(name, np.nan) for name in summary.index.get_level_values(1)])
    written = [out / "multigroup_summary.csv", out / "multigroup_recovery.png"]
    _csv(summary, written[0])
    figure = models.multigroup.recovery_plot(fits, true_w, Figure(figsize=(10, 6), layout="constrained"))
    _png(figure, written[1], dpi=120)
    return written


def _population(idata: az.InferenceData) -> list[str]:
    """The variables without a value per group (not the sampler's Cholesky factors)."""
    dim = idata.posterior.attrs["group_dim"]
    return [name for name, values in idata.posterior.data_vars.items()
            if dim not in values.dims and not is_internal(name)]


def _pupils(idata: az.InferenceData) -> pd.DataFrame:
    outcome = outcome_name(idata)
    dim, index = idata.posterior.attrs["group_dim"], idata.posterior.attrs["group_index"]
    school = idata.posterior[dim].values[idata.constant_data[index].values]
    return pd.DataFrame({dim: school, outcome: idata.observed_data[outcome].values})


def thai(out: Path, **options: Any) -> list[Path]:
    """Fit every variant; write summaries, the LOO comparison with its Pareto-k problems,
    probability-scale effects and the prior/posterior predictive and forest plots."""
    fits = {v: models.thai.fit(variant=v, prior=v == "random_slope", **options)
            for v in models.thai.LOO_VARIANTS}
    with warnings.catch_warnings():  # the dropped msesc rows are reported in the summary instead
        warnings.simplefilter("ignore", DataWarning)
        # not in the LOO
        fits["covariates"] = models.thai.fit(variant="covariates", **options)
    summary = pd.concat(
        {v: _summary(f, var_names=_population(f)) for v, f in fits.items()}, names=["variant", "parameter"])
    loo, flagged = compare_loo({v: fits[v] for v in models.thai.LOO_VARIANTS})
    flagged = flagged.join(_pupils(fits["random_slope"]), on="obs")
    effects = pd.concat({v: models.thai.probability_effects(fits[v])
                         for v in ("random_intercept", "random_slope", "slope_only")}, names=["variant"])
    names = ["thai_summary.csv", "thai_loo.csv", "thai_loo.md", "thai_loo_pareto_k.csv",
             "thai_probability_effects.csv", "thai_probability_effects.md", "thai_prior_predictive.png",
             "thai_posterior_predictive.png", "thai_forest_pped.png"]
    written = [out / name for name in names]
    _csv(summary, written[0])
    _csv(loo, written[1])
    dropped = fits["covariates"].posterior.attrs["dropped_pupils"]
    _text(written[2], loo.drop(columns=["weight"]).to_markdown() + "\n\n"
          f"{len(flagged)} pupil(s) with Pareto k above ArviZ's threshold, listed in "
          f"thai_loo_pareto_k.csv. The covariates variant is not in the table: it drops "
          f"the {dropped} pupils whose school's msesc is missing.\n")
    _csv(flagged, written[3], index=False)
    _csv(effects, written[4])
    _text(written[5], effects.to_markdown() + "\n")
    _png(models.thai.prior_predictive_plot(fits["random_slope"]), written[6], dpi=120)
    _png(models.thai.posterior_predictive_plot(fits["random_slope"]), written[7], dpi=120)
    _png(models.thai.forest_plot(fits["random_slope"]), written[8], dpi=120)
    return written


def exam(out: Path, **options: Any) -> list[Path]:
    """Fit both variants; write the original-scale summary, the league table, the caterpillar
    plot and the lkj vs bugs comparison."""
    fits = {v: models.exam.fit(variant=v, **options) for v in models.exam.VARIANTS}
    names = ["exam_summary.csv", "exam_league_table.csv", "exam_league_table.md", "exam_caterpillar.png",
             "exam_lkj_vs_bugs.csv", "exam_lkj_vs_bugs.md"]
    written = [out / name for name in names]
    _csv(_summary(fits["lkj"], var_names=models.exam.SUMMARY, round_to="none"), written[0])
    table = models.exam.league_table(fits["lkj"])
    _csv(table, written[1], index=False)
    _text(written[2], table.to_markdown(index=False, floatfmt=".3g") + "\n")
    _png(models.exam.caterpillar_plot(fits["lkj"]), written[3], dpi=120)
    comparison = models.exam.compare_variants(fits)
    _csv(comparison, written[4])
    _text(written[5], comparison.to_markdown(floatfmt=".4g") + "\n")
    return written


def _schools_markdown(schools: pd.DataFrame) -> str:
    extremes = models.mathtest.extreme_small_schools(schools)
    lines = ["The most extreme raw means among the smallest schools (10% of schools by size) move the "
             "most, because their raw means carry the least information:", ""]
    for _, row in extremes.iterrows():
        lines.append(f"- school {row['school']} ({row['n']} students): raw mean {row['raw_mean']:.2f}, "
                     f"empirical Bayes {row['eb_mean']:.2f}, full Bayes {row['fb_mean']:.2f} "
                     f"(shrinkage factor {row['fb_kappa']:.2f})")
    table = schools.sort_values("raw_mean").set_index("school").astype({"n": str})
    return ("\n".join(lines) + "\n\nAll schools, by raw mean. eb: empirical Bayes; fb: full Bayes in Stan "
            "(posterior mean, 90% interval); kappa: shrinkage factor 1 / (1 + n tau^2), the weight of mu "
            "in the school's mean.\n\n" + table.to_markdown(floatfmt=".2f") + "\n")


def mathtest(out: Path, **options: Any) -> list[Path]:
    """EB, full Bayes (every parameterization) and Gibbs; write the summaries, the EB-vs-full-Bayes
    comparison, the per-school table and the shrinkage plot."""
    seed = options.get("seed")
    fits = {form: models.mathtest.fit(parameterization=form, **options)
            for form in models.mathtest.PARAMETERIZATIONS}
    chain = models.mathtest.gibbs(seed=seed)
    eb = models.mathtest.empirical_bayes()
    summary = pd.concat(
        {**{f"stan_{v}": _summary(f, var_names=["mu", "sigma2", "tau2", "lambda", "omega", "theta"])
            for v, f in fits.items()},
         "gibbs": _summary(chain, var_names=["mu", "sigma2", "tau2", "lambda", "omega", "theta"])},
        names=["method", "parameter"])
    estimates = models.mathtest.compare_estimates(eb, {"stan": fits["auto"], "gibbs": chain})
    schools = models.mathtest.compare_schools(eb, fits["auto"])
    names = ["mathtest_summary.csv", "mathtest_estimates.csv", "mathtest_estimates.md",
             "mathtest_schools.csv", "mathtest_schools.md", "mathtest_shrinkage.png"]
    written = [out / name for name in names]
    _csv(summary, written[0])
    _csv(estimates, written[1])
    _text(written[2], estimates.to_markdown(floatfmt=".5g") + "\n\nEmpirical Bayes: maximum marginal "
          "likelihood, standard errors from its curvature. stan: full Bayes, the "
          "default (auto) parameterization; gibbs: the original analysis's Gibbs "
          "sampler (same priors); mean, sd and Monte Carlo standard error of the "
          "posterior.\n")
    _csv(schools, written[3], index=False)
    _text(written[4], _schools_markdown(schools))
    mu = float(fits["auto"].posterior["mu"].mean())
    _png(models.mathtest.shrinkage_plot(schools, mu), written[5], dpi=120)
    return written


def glmm(out: Path, **options: Any) -> list[Path]:
    """The formula family's default: radon's varying intercept and floor slope, correlated, written
    as a formula (``glmm.DEFAULT_FORMULA``); its summary and diagnostics."""
    fit = models.glmm.fit(**options)
    summary = _summary(fit, var_names=["b", "sigma", "sd_county", "corr_county"])
    written = [out / "glmm_summary.csv", out / "glmm_summary.md"]
    _csv(summary, written[0])
    _text(written[1], f"# `{models.glmm.DEFAULT_FORMULA}` on the radon data (glmm)\n\n"
          + summary.to_markdown(floatfmt=".4g")
          + "\n\n```\n" + str(diagnose(fit)) + "\n```\n")
    return written


REPORTS: dict[str, Callable[..., list[Path]]] = {
    "eight_schools": eight_schools, "radon": radon, "multigroup": multigroup, "thai": thai, "exam": exam,
    "mathtest": mathtest, "glmm": glmm,
}
"""Each family's report, by family name (the keys of :data:`hierstan.models.FAMILIES`)."""


# --- many fits: simulation-based calibration of every family, K-fold next to LOO for radon ------


def _first_groups(frame: pd.DataFrame, column: str, count: int, rows: int | None = None) -> pd.DataFrame:
    """The rows of the first ``count`` groups (in data order), at most ``rows`` of each: a
    smaller real design."""
    kept = frame[frame[column].isin(pd.unique(frame[column])[:count])]
    if rows is not None:
        kept = kept.groupby(column, sort=False).head(rows)
    return kept.reset_index(drop=True)


# Each family's SBC in results/: the design simulated at (a function, so nothing loads at import)
# and the priors used to simulate and fit (None: the family's defaults). Smaller designs keep the
# cost of every family's 100 fits near radon's; the priors differ from the defaults only where
# those draw data sets no analysis meets (see docs/models.md, "Calibration").
SBC_RUNS: dict[str, tuple[Callable[[], pd.DataFrame], dict[str, float] | None]] = {
    "eight_schools": (lambda: models.eight_schools.load_data(), None),
    "radon": (lambda: models.radon.load_data(), None),
    "multigroup": (lambda: models.multigroup.simulate(G=4, n=50, m=2, seed=1)[0], None),
    # the default mean and scale priors put most schools at a repeat rate of 0 or 1
    "thai": (lambda: _first_groups(models.thai.load_data(), "school_id", 40),
             {"mean_scale": 2.5, "hyper_scale": 1.5}),
    # coef_scale is also the prior sd of the log precision's slope in lrt (+-35): at 0.1 the residual
    # sd still spans 4 orders of magnitude in some data sets (no fit mixes); the default 10 overflows.
    # Whole schools (15 of them, 0.1, tau_scale 1) made each fit 320 s with R-hat up to 3.4.
    "exam": (lambda: _first_groups(models.exam.load_data(), "school", 30, rows=6),
             {"coef_scale": 0.02, "tau_scale": 0.1}),
    # the default priors give a negative score (refused) in 4 data sets in 10
    "mathtest": (lambda: models.mathtest.load_data(),
                 {"a": 20.0, "b": 1000.0, "c": 5.0, "d": 1.0, "nu": 50.0, "phi": 0.04}),
    # the autoscaled priors fixed at the radon data's log-radon mean and sd, so that they do not
    # move with each simulated outcome
    "glmm": (lambda: _first_groups(models.radon.load_data(), "county", 30),
             {"outcome_location": 1.2, "outcome_scale": 0.8}),
}
# the data arguments of a family's SBC besides its priors
SBC_OPTIONS: dict[str, dict[str, Any]] = {"glmm": {"formula": "log_radon ~ floor + (1 + floor | county)"}}
SBC_SIMS = 100


def calibration(out: Path, families: list[str], *, sims: int = SBC_SIMS, engine: str = "auto",
                seed: int = 1, workers: int | None = None, progress: bool = True) -> list[Path]:
    """SBC of each family's default variant (``sims`` simulations each): the tables and ECDF plot
    of each under ``out/sbc/<family>/``, and one summary table of all, ``out/sbc_summary.md``."""
    from .sbc import sbc

    written, rows = [], []
    for name in families:
        design, priors = SBC_RUNS[name]
        with step(f"SBC {name}", fits=sims):  # a step of reproduce's job, when it runs one
            frame = design()
            result = sbc(name, n_sims=sims, data=frame, priors=priors, options=SBC_OPTIONS.get(name),
                         seed=seed, engine=engine, workers=workers, progress=progress)
            written += result.write(out / "sbc" / name)
        tests, fits = result.tests, result.fits
        worst = (f"{tests['p_value'].min():.3g} ({tests.loc[tests['p_value'].idxmin(), 'parameter']})"
                 if len(tests) else None)
        rows.append({"family": name, "variant": result.variant, "design rows": len(frame),
                     "priors": ", ".join(f"{k}={v:g}" for k, v in (priors or {}).items()) or "defaults",
                     "simulations": len(fits), "failed": int(fits["status"].eq("failed").sum()),
                     "with divergences": int(fits["status"].eq("divergent").sum()),
                     "with R-hat > 1.01": int(fits["max_rhat"].gt(1.01).sum()),
                     "with R-hat > 1.05": int(fits["max_rhat"].gt(1.05).sum()),
                     "median s per fit": round(float(fits["seconds"].median()), 1),
                     "parameters": len(tests), "bins": result.bins,
                     "not uniform (Holm, 5%)": int((~tests["uniform"]).sum()),
                     "outside 95% band": int(tests["outside_band"].sum()),
                     "smallest p": worst})
    table = pd.DataFrame(rows)
    written.append(out / "sbc_summary.md")
    _text(written[-1],
        "# Simulation-based calibration, every family's default variant\n\n"
        + table.to_markdown(index=False) + "\n\n"
        "Each simulation draws every parameter from the prior (the family's `simulate_prior`, numpy) "
        "and data from them at the design, fits it (4 chains, 500 warmup + 250 draws), and ranks each "
        "true value among 99 posterior draws thinned evenly from the chains. Test: chi-square of each "
        "parameter's ranks in the bins shown, p-values adjusted by Holm's method over the family's "
        "parameters (family-wise 5%); the ECDF band is ArviZ's simultaneous 95% band, which about 5% "
        "of calibrated parameters leave by chance. Per family: `sbc/<family>/` holds the ranks, fits, "
        "tests and the ECDF-difference plot.\n")
    return written


KFOLD_K = 10


def radon_kfold(out: Path, *, K: int = KFOLD_K, engine: str = "auto", seed: int = 1, chains: int = 4,
                draws: int = 1000, warmup: int = 1000, workers: int | None = None,
                progress: bool = True) -> list[Path]:
    """K-fold next to PSIS-LOO for every radon variant: folds of houses stratified by county (the
    question LOO answers) and leave-county-out folds (a new county); radon_kfold.md and .csv."""
    from .kfold import compare, kfold

    settings = {"K": K, "engine": engine, "seed": seed, "chains": chains, "draws": draws, "warmup": warmup,
                "workers": workers, "progress": progress}
    rows, stratified = [], {}
    # two K-folds of each variant, each K fits and the full one: a step of reproduce's job
    with step("K-fold radon", fits=2 * len(models.radon.VARIANTS) * (K + 1)):
        for variant in models.radon.VARIANTS:
            stratified[variant] = kfold("radon", variant=variant, **settings)
            by_county = kfold("radon", variant=variant, by="county", **settings)
            loo = stratified[variant].loo
            rows.append({"variant": variant, "elpd_loo": loo["elpd_loo"], "se_loo": loo["se"],
                         "pareto_k_above_0.7": loo["pareto_k_above_0.7"],
                         "elpd_kfold": stratified[variant].elpd_kfold, "se_kfold": stratified[variant].se,
                         "kfold_minus_loo": stratified[variant].elpd_kfold - loo["elpd_loo"],
                         "elpd_kfold_new_county": by_county.elpd_kfold, "se_new_county": by_county.se,
                         "divergences": stratified[variant].divergences + by_county.divergences})
    table = pd.DataFrame(rows).set_index("variant")
    ranked = compare(stratified)
    written = [out / "radon_kfold.csv", out / "radon_kfold.md"]
    _csv(table, written[0])
    _text(written[1],
        f"# Radon: {K}-fold cross-validation next to PSIS-LOO\n\n" + table.to_markdown(floatfmt=".1f")
        + f"\n\n`elpd_loo` is PSIS-LOO of the fit to all the data (with the houses whose Pareto k is "
        f"above 0.7); `elpd_kfold` refits without each of {K} folds of houses stratified by county, "
        f"the same question (a new house in a known county) without importance sampling; "
        f"`elpd_kfold_new_county` holds out whole counties ({K} folds), whose effects then come from "
        f"the population: a new county (for `unpooled`, which has no population, from its prior: a "
        f"held-out county of one house is predicted from the prior in both K-folds). {chains} chains x "
        f"{draws} draws per fit.\n\n"
        f"K-fold (stratified) in the shape of `az.compare`:\n\n" + ranked.to_markdown(floatfmt=".2f") + "\n")
    return written
