"""Exam scores and school league tables (docs/models.md §5): Goldstein et al. (1993), BUGS "Schools".

score_ij ~ normal(mu_ij, s_ij), log(1 / s_ij^2) = theta + phi * lrt_ij, with school coefficients
(intercept, lrt, vr1) ~ multi_normal(gamma, Sigma) and eight fixed effects. ``lkj`` (default):
Sigma = diag(tau) Omega diag(tau), Omega ~ LKJ(2), tau ~ half-normal(0, 1), coefficients
normal(0, 10). ``bugs``: Sigma ~ inv_wishart(3, R), coefficients normal(0, 100).

The programs sample standardised predictors and report every coefficient on the original scale;
schools are ranked draw by draw on any of their three coefficients (:func:`league_table`).
"""

from __future__ import annotations

from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from scipy.stats import invwishart

from ..errors import DataError, check_choice
from ..family import Family
from ..post_estimation import Prediction, data_column, draws_of, group_draws
from ..prior_draws import Seed, as_truth, design_frame, generator, half_normal, lkj_corr, supported_variant
from ..programs import data_file
from ..stan_data import StanData, column_attrs, group_dim
from ..validation import (
    binary_column,
    category_column,
    distinct_columns,
    group_codes,
    label_column,
    numeric_column,
    prior_scales,
    require_bool,
    require_columns,
    require_frame,
    row_labels,
)

FAMILY = "exam"
DESCRIPTION = "Exam scores of 1978 pupils in 38 London schools, school league tables (BUGS Schools)"
#: The variants ``fit`` takes (``variant=``), the default first.
VARIANTS = ("lkj", "bugs")
#: Default prior settings of each variant, overridden by ``priors=``.
PRIORS = {"lkj": {"coef_scale": 10.0, "tau_scale": 1.0, "lkj_eta": 2.0}, "bugs": {"coef_scale": 100.0}}
# the BUGS analysis's Wishart matrix: Sigma ~ inv_wishart(3, R)
BUGS_R = np.array([[0.1, 0.005, 0.005], [0.005, 0.1, 0.005], [0.005, 0.005, 0.1]])
#: Each column argument and its default column name in the shipped data.
COLUMNS = {"outcome": "score", "group": "school", "lrt": "lrt", "vr_band": "vr_band", "girl": "girl",
           "school_gender": "school_gender", "school_denom": "school_denom"}
VR_BANDS = (1, 2, 3)  # 1 = highest; 3 is the reference
#: The values of the school gender column; the first is the reference level.
SCHOOL_GENDERS = ("mixed", "boys", "girls")  # mixed is the reference
#: The values of the school denomination column; the first is the reference level.
SCHOOL_DENOMS = ("state", "church_of_england", "roman_catholic", "other")  # state is the reference
#: The school-level coefficients a league table can rank on.
COEFFICIENTS = ("intercept", "lrt", "vr1")
FIXED = ("lrt2", "vr2", "girl", "boys_school", "girls_school", "church_of_england", "roman_catholic",
         "other_denom")


def load_data() -> pd.DataFrame:
    """The shipped data (data/README.md): 1978 pupils in 38 schools, school-gender labels verified."""
    return pd.read_csv(data_file("exam_schools.csv"))


def _school_level(df: pd.DataFrame, labels: pd.Series, column: str, what: str) -> None:
    """A school-level column must hold one value per school."""
    values = df[column].groupby(labels.to_numpy()).nunique()
    mixed = values.index[values > 1]
    if len(mixed):
        raise DataError(f"{what}: column {column!r} is a value per {labels.name}, but in "
                        f"{labels.name} {', '.join(map(str, mixed[:5]))} pupils have different values")


def design(data: pd.DataFrame | None = None, *, min_groups: int = 1,
           **columns: str) -> tuple[pd.DataFrame, pd.Index]:
    """Validate ``data`` and return the model's columns per pupil (school code, score, lrt, vr1,
    the eight fixed-effect columns) and the school labels, sorted. A fit needs ``min_groups=2``
    schools (Sigma, their spread); new data for predictions may hold one."""
    for name in columns:
        check_choice("exam column argument", name, COLUMNS)
    names = {**COLUMNS, **columns}
    what = "exam data"
    df = load_data() if data is None else require_frame(data, what)
    require_columns(df, list(names.values()), what)
    distinct_columns(what, **names)
    labels = label_column(df, names["group"], what)
    band = category_column(df, names["vr_band"], VR_BANDS, what)
    gender = category_column(df, names["school_gender"], SCHOOL_GENDERS, what)
    denom = category_column(df, names["school_denom"], SCHOOL_DENOMS, what)
    for column in ("school_gender", "school_denom"):
        _school_level(df, labels, names[column], what)
    codes, schools = group_codes(df, names["group"], what, min_groups=min_groups)
    lrt = numeric_column(df, names["lrt"], what)
    table = pd.DataFrame({
        "school": codes + 1, "score": numeric_column(df, names["outcome"], what), "lrt": lrt,
        "vr1": (band == 1).to_numpy(float),
        "lrt2": lrt**2, "vr2": (band == 2).to_numpy(float), "girl": binary_column(df, names["girl"], what),
        "boys_school": (gender == "boys").to_numpy(float),
        "girls_school": (gender == "girls").to_numpy(float),
        "church_of_england": (denom == "church_of_england").to_numpy(float),
        "roman_catholic": (denom == "roman_catholic").to_numpy(float),
        "other_denom": (denom == "other").to_numpy(float)}, index=df.index)
    return table, schools


# the user's column behind each column the program divides by its sd (exam_standardise.stan)
_STANDARDISED = {"lrt": "lrt", "lrt2": "lrt", "vr2": "vr_band", "girl": "girl",
                 "boys_school": "school_gender", "girls_school": "school_gender",
                 "church_of_england": "school_denom", "roman_catholic": "school_denom",
                 "other_denom": "school_denom"}


def _check_spread(table: pd.DataFrame, names: dict[str, str]) -> None:
    """The program divides lrt and the eight fixed-effect columns by their sd: a constant one (a
    subset of mixed schools only, say) would give Stan 0/0 = NaN, so name its column before."""
    for derived, role in _STANDARDISED.items():
        values = table[derived].to_numpy()
        if np.ptp(values) == 0:
            described = role if derived == role else f"{derived} (from {role})"
            raise DataError(
                f"exam data: {described} is {values[0]:g} for every pupil, so column {names[role]!r} "
                f"cannot be standardised (its sd is 0) and its effect cannot be estimated from these "
                f"data; fit data in which it varies (or standardise=False, the model as written, "
                f"where the prior alone decides that effect)")


def stan_data(
    data: pd.DataFrame | None = None,
    *,
    variant: str = "lkj",
    priors: dict[str, float] | None = None,
    standardise: bool = True,
    **columns: str,
) -> StanData:
    """Validate ``data`` (default: the shipped data) and turn it into Stan data.

    ``priors`` overrides the variant's entries of :data:`PRIORS`. ``standardise=False`` makes
    the sampler work on the original scales, as the model is written (for comparison only: it
    needs far deeper trees).
    ``columns`` renames the columns of :data:`COLUMNS`; ``vr_band`` takes
    1, 2, 3 (1 = highest band), ``school_gender`` and ``school_denom`` the values of
    :data:`SCHOOL_GENDERS` and :data:`SCHOOL_DENOMS`, constant within a school.
    """
    check_choice("exam variant", variant, VARIANTS)
    standardise = require_bool("standardise", standardise)
    for name in columns:
        check_choice("exam column argument", name, COLUMNS)
    # Sigma, the spread of the school coefficients, needs two schools at least
    table, schools = design(data, min_groups=2, **columns)
    if standardise:
        _check_spread(table, {**COLUMNS, **columns})
    scales = prior_scales(PRIORS[variant], priors)
    outcome = columns.get("outcome", COLUMNS["outcome"])
    y = table["score"].to_numpy()
    group = columns.get("group", COLUMNS["group"])
    dim = group_dim(group, ("coefficient", "coefficient2", "fixed", "pupil"), what="exam data")
    index = f"{dim}_index"
    pupils = row_labels(table)
    return StanData(
        program=f"exam_{variant}",
        data={"N": len(table), "J": len(schools), "y": y, "school": table["school"].to_numpy(),
              "lrt": table["lrt"].to_numpy(), "vr1": table["vr1"].to_numpy(),
              "X": table[list(FIXED)].to_numpy(), "standardise": int(standardise), **scales,
              **({"R": BUGS_R} if variant == "bugs" else {}), "pointwise": 0,
              "prior_only": 0},
        outcome=outcome,
        observed=y,
        coords={dim: list(schools), "coefficient": list(COEFFICIENTS),
                "coefficient2": list(COEFFICIENTS), "fixed": list(FIXED), "pupil": pupils},
        dims={"a": [dim, "coefficient"], "a_std": [dim, "coefficient"], "gamma": ["coefficient"],
              "gamma_std": ["coefficient"], "tau": ["coefficient"], "tau_std": ["coefficient"],
              "z": ["coefficient", dim], "beta": ["fixed"], "beta_std": ["fixed"],
              "Omega": ["coefficient", "coefficient2"], "Sigma": ["coefficient", "coefficient2"],
              "L_Omega": ["coefficient", "coefficient2"], "L_std": ["coefficient", "coefficient2"],
              "L_Sigma": ["coefficient", "coefficient2"], outcome: ["pupil"],
              index: ["pupil"], "lrt": ["pupil"], "vr1": ["pupil"]},
        constant={index: table["school"].to_numpy() - 1, "lrt": table["lrt"].to_numpy(),
                  "vr1": table["vr1"].to_numpy(), **scales},
        attrs={"family": FAMILY, "variant": variant, "standardise": int(standardise),
               "group_dim": dim, "group_index": index,
               **column_attrs(**{**COLUMNS, **columns})},
        rows=(load_data() if data is None else data).copy(),
        adapt_delta=0.9,
    )


def simulate(truth: dict[str, Any] | None = None, *, data: pd.DataFrame | None = None,
             seed: Seed = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Scores simulated from the ``lkj`` model at a real design (default: the shipped data's
    schools, lrt, bands and genders). ``truth`` sets any of gamma, tau, Omega, beta, theta, phi
    (defaults: round values of the size the real data suggest, with school slopes a little more
    variable, so that their correlations are identifiable from 38 schools). Returns the data, with
    ``score`` replaced, and the full truth including each school's coefficients ``a``.
    ``seed`` is numpy.random.default_rng's (a Generator is used as it is)."""
    frame = load_data() if data is None else data.copy()
    table, schools = design(frame)
    values = {"gamma": np.array([-0.7, 0.03, 1.0]), "tau": np.array([0.3, 0.02, 0.3]),
              "Omega": np.array([[1.0, 0.5, -0.3], [0.5, 1.0, -0.4], [-0.3, -0.4, 1.0]]),
              "beta": np.array([3e-4, 0.4, 0.15, 0.1, 0.15, -0.3, 0.15, -0.1]),
              "theta": np.array(0.6), "phi": np.array(0.003)}
    for name, value in (truth or {}).items():
        check_choice("exam simulation parameter", name, values)
        values[name] = np.asarray(value, dtype=float)
    rng = np.random.default_rng(seed)
    covariance = values["Omega"] * np.outer(values["tau"], values["tau"])
    a = rng.multivariate_normal(values["gamma"], covariance, size=len(schools))
    school = table["school"].to_numpy() - 1
    mu = (a[school, 0] + a[school, 1] * table["lrt"] + a[school, 2] * table["vr1"]
          + table[list(FIXED)].to_numpy() @ values["beta"])
    scale = np.exp(-0.5 * (values["theta"] + values["phi"] * table["lrt"]))
    frame[COLUMNS["outcome"]] = rng.normal(mu, scale)
    return frame, {**values, "a": a}


def _prior_coefficients(rng: np.random.Generator, coef_scale: float) -> dict[str, Any]:
    """model/exam_priors.stan: gamma, beta, theta and phi ~ normal(0, coef_scale), on the
    original scale whatever the standardisation (the programs put the priors there)."""
    return {"gamma": rng.normal(0.0, coef_scale, len(COEFFICIENTS)),
            "beta": rng.normal(0.0, coef_scale, len(FIXED)),
            "theta": rng.normal(0.0, coef_scale), "phi": rng.normal(0.0, coef_scale)}


def _prior_lkj(rng: np.random.Generator, scales: dict[str, float]) -> dict[str, Any]:
    """exam_lkj.stan's prior: tau ~ half-normal(0, tau_scale) (the original-scale tau),
    Omega ~ LKJ(lkj_eta), Sigma = diag(tau) Omega diag(tau)."""
    drawn = _prior_coefficients(rng, scales["coef_scale"])
    drawn["tau"] = half_normal(rng, scales["tau_scale"], len(COEFFICIENTS))
    drawn["Omega"] = lkj_corr(rng, scales["lkj_eta"], len(COEFFICIENTS))
    drawn["Sigma"] = drawn["Omega"] * np.outer(drawn["tau"], drawn["tau"])
    return drawn


def _prior_bugs(rng: np.random.Generator, scales: dict[str, float]) -> dict[str, Any]:
    """exam_bugs.stan's prior: Sigma ~ inv_wishart(3, BUGS_R) (Stan's and scipy's
    parameterisations agree), tau and Omega derived from it."""
    drawn = _prior_coefficients(rng, scales["coef_scale"])
    sigma = invwishart(df=3, scale=BUGS_R).rvs(random_state=rng)
    tau = np.sqrt(np.diag(sigma))
    omega = sigma / np.outer(tau, tau)
    np.fill_diagonal(omega, 1.0)
    return {**drawn, "Sigma": sigma, "tau": tau, "Omega": omega}


# per variant: the program's prior draw, and its user-facing variables in the posterior's order
_PRIOR_DRAWS = {
    "lkj": (_prior_lkj, ("theta", "beta", "gamma", "phi", "tau", "Omega", "Sigma", "a")),
    "bugs": (_prior_bugs, ("theta", "beta", "gamma", "phi", "Sigma", "tau", "Omega", "a")),
}


def simulate_prior(data: pd.DataFrame | None = None, *, variant: str = "lkj",
                   priors: dict[str, float] | None = None,
                   seed: Seed = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Every parameter of ``variant`` drawn from its program's prior, then the school
    coefficients and scores from them (:func:`simulate`): one draw of the joint model, for
    simulation-based calibration.

    The priors are those of ``fit(variant=variant, priors=priors)``, on the original-scale
    quantities as the programs put them (docs/models.md §5). The default ``coef_scale`` (10
    for ``lkj``, 100 for ``bugs``) is far too vague for data: it is also the prior sd of the
    log precision's theta and of phi, its slope in lrt (which spans +-35), so the residual sd
    exp(-(theta + phi * lrt) / 2) overflows (numpy warns) or reaches far beyond 1e12, and
    :func:`stan_data` refuses such data (9 data sets in 10 at the shipped design; with
    coef_scale 1, 1 in 8). Calibration runs pass a much smaller ``coef_scale``: with 0.1 none
    was refused in 1000, scores have an sd of about 20 (the lrt^2 term) against the real
    data's 1.

    Parameters
    ----------
    data
        The design (default: the shipped data): every column of :data:`COLUMNS` but the
        outcome. Its ``score`` is replaced; the frame passed in is not modified.
    variant
        ``"lkj"`` or ``"bugs"``.
    priors
        Overrides of the variant's entries in :data:`PRIORS`, as in :func:`stan_data`.
    seed
        Seed of ``numpy.random.default_rng`` (or a Generator): the same seed, the same output.

    Returns
    -------
    data : pandas.DataFrame
        The design with ``score`` simulated.
    truth : dict of numpy.ndarray
        Every user-facing variable of the variant's posterior on the original scale, shaped as
        in it (``a``: schools in the fit's order by coefficient).
    """
    supported_variant(FAMILY, variant, VARIANTS, tuple(_PRIOR_DRAWS))
    scales = prior_scales(PRIORS[variant], priors)
    frame = design_frame(data, load_data, COLUMNS["outcome"], "exam design")
    stan_data(frame, variant=variant, priors=scales)  # the design checked as fit checks it
    rng = generator(seed)
    draw, names = _PRIOR_DRAWS[variant]
    drawn = draw(rng, scales)
    frame, truth = simulate({name: drawn[name] for name in ("gamma", "tau", "Omega", "beta", "theta", "phi")},
                            data=frame, seed=rng)
    return frame, as_truth({**drawn, "a": truth["a"]}, names)


def school_ranks(idata: az.InferenceData, coefficient: str = "intercept") -> xr.DataArray:
    """Per draw, each school's rank on ``coefficient`` (one of :data:`COEFFICIENTS`): 1 = highest."""
    check_choice("ranking coefficient", coefficient, COEFFICIENTS)
    dim = idata.posterior.attrs["group_dim"]
    values = idata.posterior["a"].sel(coefficient=coefficient).transpose("chain", "draw", dim)
    # the position of each school when a draw's values are sorted from highest to lowest
    ranks = (-values.values).argsort(axis=-1).argsort(axis=-1) + 1
    return values.copy(data=ranks).rename(f"rank_{coefficient}")


def league_table(idata: az.InferenceData, coefficient: str = "intercept", top: int = 5) -> pd.DataFrame:
    """One row per school, ordered by median rank: mean and median rank, 95% interval, and the
    probability of being in the top ``top`` and the bottom ``top``, from the per-draw ranks."""
    ranks = school_ranks(idata, coefficient)
    dim = idata.posterior.attrs["group_dim"]
    schools = ranks.sizes[dim]
    if not 1 <= top <= schools:
        raise DataError(f"top must be between 1 and the number of groups ({schools}), got {top}")
    flat = ranks.stack(sample=("chain", "draw")).transpose(dim, "sample").values
    table = pd.DataFrame({
        dim: ranks[dim].values, "mean_rank": flat.mean(axis=1),
        "median_rank": np.median(flat, axis=1),
        "rank_q025": np.quantile(flat, 0.025, axis=1, method="inverted_cdf"),
        "rank_q975": np.quantile(flat, 0.975, axis=1, method="inverted_cdf"),
        f"p_top{top}": (flat <= top).mean(axis=1),
        f"p_bottom{top}": (flat > schools - top).mean(axis=1),
    })
    table[f"{coefficient}_mean"] = idata.posterior["a"].sel(coefficient=coefficient).mean(("chain", "draw"))
    return table.sort_values(["median_rank", "mean_rank"]).reset_index(drop=True)


def caterpillar_plot(idata: az.InferenceData, coefficient: str = "intercept") -> Figure:
    """Median rank and 95% interval of every school, ordered by median rank."""
    table = league_table(idata, coefficient)
    figure = Figure(figsize=(10, 4.5), layout="constrained")
    ax = figure.subplots()
    position = np.arange(1, len(table) + 1)
    ax.vlines(position, table["rank_q025"], table["rank_q975"], color="C0", lw=1.5, label="95% interval")
    ax.plot(position, table["median_rank"], "o", color="C0", ms=4, label="median rank")
    dim = idata.posterior.attrs["group_dim"]
    ax.set_xticks(position, table[dim], fontsize=7, rotation=90)
    ax.invert_yaxis()
    ax.set(xlabel=f"{dim}, by median rank", ylabel="rank (1 = highest)",
           title=f"School ranks on the {coefficient} coefficient ({idata.posterior.attrs['variant']})")
    ax.legend()
    return figure


SUMMARY = ["gamma", "beta", "tau", "Omega", "theta", "phi"]


def compare_variants(fits: dict[str, az.InferenceData]) -> pd.DataFrame:
    """Posterior mean and sd of the population quantities, variants side by side."""
    summaries = {name: az.summary(f, var_names=SUMMARY, kind="stats", round_to="none")[["mean", "sd"]]
                 for name, f in fits.items()}
    table = pd.concat(summaries, axis=1)
    table.columns = [f"{name}_{statistic}" for name, statistic in table.columns]
    # the unit diagonal of Omega: fixed by construction
    return table[(table.filter(like="_sd") > 1e-12).any(axis=1)]


def _predict(idata: az.InferenceData, newdata: pd.DataFrame, rng: np.random.Generator) -> Prediction:
    """score ~ normal(mu, s) with mu and log(1 / s^2) = theta + phi * lrt as in the fit; a new
    school's coefficients a ~ multi_normal(gamma, Sigma)."""
    post = idata.posterior
    columns = {role: data_column(idata, role) for role in COLUMNS}
    frame = newdata.copy()
    if columns["outcome"] not in frame:  # design() reads the outcome; predictions do not need it
        frame[columns["outcome"]] = 0.0
    table, _ = design(frame, **columns)

    def new(unseen: list[str]) -> dict[str, np.ndarray]:
        gamma = draws_of(post["gamma"], "coefficient")
        L = np.linalg.cholesky(draws_of(post["Sigma"], "coefficient", "coefficient2"))
        z = rng.standard_normal((len(gamma), len(unseen), len(COEFFICIENTS)))
        return {"a": gamma[:, None] + np.einsum("sij,sgj->sgi", L, z)}

    a = group_draws(idata, newdata[columns["group"]], ["a"], new)["a"]
    lrt = table["lrt"].to_numpy()
    linear = (a[..., 0] + a[..., 1] * lrt + a[..., 2] * table["vr1"].to_numpy()
              + draws_of(post["beta"], "fixed") @ table[list(FIXED)].to_numpy().T)
    scale = np.exp(-0.5 * (draws_of(post["theta"])[:, None] + draws_of(post["phi"])[:, None] * lrt))
    return Prediction.normal(linear, scale)


family = Family(name=FAMILY, description=DESCRIPTION, prepare=stan_data, load_data=load_data,
                variants=VARIANTS, priors=PRIORS, columns=COLUMNS, simulate=simulate,
                simulate_prior=simulate_prior, predict=_predict)
fit = family.fit
