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
from .diagnostics import compare_loo, diagnose
from .errors import DataWarning
from .inference_data import outcome_name
from .post_estimation import group_table, is_internal


def _summary(idata: az.InferenceData, **options) -> pd.DataFrame:
    """``az.summary`` without the rows of quantities fixed by construction (the unit diagonal of a
    correlation matrix), whose sd of 1e-17 and R-hat say nothing."""
    with warnings.catch_warnings():  # R-hat and ESS of a constant divide 0 by 0
        warnings.simplefilter("ignore", RuntimeWarning)
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
    summary.to_csv(written[0])
    diagnostics.to_csv(written[1])
    written[2].write_text(diagnostics.to_markdown() + "\n")
    for path, draw in ((written[3], models.eight_schools.funnel_plot),
                       (written[4], models.eight_schools.running_mean_plot)):
        figure = Figure(figsize=(10, 4), layout="constrained")
        for ax, form in zip(figure.subplots(1, 2, sharey=True), ("centered", "noncentered")):
            draw(fits[form], ax=ax)
        figure.savefig(path, dpi=120)
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
    summary.to_csv(written[0])
    counties.to_csv(written[1])
    loo.to_csv(written[2])
    written[3].write_text(_loo_markdown(loo, flagged))
    flagged.to_csv(written[4], index=False)
    figure = models.radon.shrinkage_plot(fits["unpooled"], fits["varying_intercept"], fits["pooled"])
    figure.savefig(written[5], dpi=120)
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
    summary.to_csv(written[0])
    figure = models.multigroup.recovery_plot(fits, true_w, Figure(figsize=(10, 6), layout="constrained"))
    figure.savefig(written[1], dpi=120)
    return written


def _population(idata: az.InferenceData) -> list[str]:
    """The variables without a value per group."""
    dim = idata.posterior.attrs["group_dim"]
    return [name for name, values in idata.posterior.data_vars.items() if dim not in values.dims]


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
    summary.to_csv(written[0])
    loo.to_csv(written[1])
    dropped = fits["covariates"].posterior.attrs["dropped_pupils"]
    written[2].write_text(loo.drop(columns=["weight"]).to_markdown() + "\n\n"
                          f"{len(flagged)} pupil(s) with Pareto k above ArviZ's threshold, listed in "
                          f"thai_loo_pareto_k.csv. The covariates variant is not in the table: it drops "
                          f"the {dropped} pupils whose school's msesc is missing.\n")
    flagged.to_csv(written[3], index=False)
    effects.to_csv(written[4])
    written[5].write_text(effects.to_markdown() + "\n")
    models.thai.prior_predictive_plot(fits["random_slope"]).savefig(written[6], dpi=120)
    models.thai.posterior_predictive_plot(fits["random_slope"]).savefig(written[7], dpi=120)
    models.thai.forest_plot(fits["random_slope"]).savefig(written[8], dpi=120)
    return written


def exam(out: Path, **options: Any) -> list[Path]:
    """Fit both variants; write the original-scale summary, the league table, the caterpillar
    plot and the lkj vs bugs comparison."""
    fits = {v: models.exam.fit(variant=v, **options) for v in models.exam.VARIANTS}
    names = ["exam_summary.csv", "exam_league_table.csv", "exam_league_table.md", "exam_caterpillar.png",
             "exam_lkj_vs_bugs.csv", "exam_lkj_vs_bugs.md"]
    written = [out / name for name in names]
    _summary(fits["lkj"], var_names=models.exam.SUMMARY, round_to="none").to_csv(written[0])
    table = models.exam.league_table(fits["lkj"])
    table.to_csv(written[1], index=False)
    written[2].write_text(table.to_markdown(index=False, floatfmt=".3g") + "\n")
    models.exam.caterpillar_plot(fits["lkj"]).savefig(written[3], dpi=120)
    comparison = models.exam.compare_variants(fits)
    comparison.to_csv(written[4])
    written[5].write_text(comparison.to_markdown(floatfmt=".4g") + "\n")
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
    summary.to_csv(written[0])
    estimates.to_csv(written[1])
    written[2].write_text(estimates.to_markdown(floatfmt=".5g") + "\n\nEmpirical Bayes: maximum marginal "
                          "likelihood, standard errors from its curvature. stan: full Bayes, the "
                          "default (auto) parameterization; gibbs: the original analysis's Gibbs "
                          "sampler (same priors); mean, sd and Monte Carlo standard error of the "
                          "posterior.\n")
    schools.to_csv(written[3], index=False)
    written[4].write_text(_schools_markdown(schools))
    mu = float(fits["auto"].posterior["mu"].mean())
    models.mathtest.shrinkage_plot(schools, mu).savefig(written[5], dpi=120)
    return written


REPORTS: dict[str, Callable[..., list[Path]]] = {
    "eight_schools": eight_schools, "radon": radon, "multigroup": multigroup, "thai": thai, "exam": exam,
    "mathtest": mathtest,
}
"""Each family's report, by family name (the keys of :data:`hierstan.models.FAMILIES`)."""
