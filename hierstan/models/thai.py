"""Thai primary education (docs/models.md §4): did a pupil repeat a class, by school and pre-primary
education (pped)? Multilevel logistic regression, five variants, non-centered by default.

Speed: pupils of one school with the same covariate values share one linear predictor, so their
Bernoulli outcomes enter the likelihood only through the count of repeats: an exact binomial
likelihood over (school, covariate-pattern) cells (699 cells for 8582 pupils with pped alone).
Per-pupil ``log_lik`` and ``y_rep`` are still generated, for PSIS-LOO and predictive checks.
"""

from __future__ import annotations

from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from scipy.special import expit, log_expit

from ..errors import DataError, DataWarning, check_choice, warn_user
from ..family import Family
from ..inference_data import outcome_name
from ..parameterization import EffectChoice, advice, from_scale, logistic_scales, resolve
from ..post_estimation import Prediction, data_column, draws_of, group_draws
from ..prior_draws import (
    Seed,
    as_truth,
    design_frame,
    effect_pairs,
    generator,
    half_normal,
    lkj_corr,
    supported_variant,
)
from ..programs import data_file
from ..stan_data import StanData, column_attrs, group_dim
from ..validation import (
    binary_column,
    distinct_columns,
    group_codes,
    label_column,
    not_reserved,
    numeric_column,
    prior_scales,
    require_columns,
    require_frame,
    row_labels,
)

FAMILY = "thai"
DESCRIPTION = "Thai education: repeating a class, 8582 pupils in 411 schools (multilevel logistic)"
#: The variants ``fit`` takes (``variant=``), the default first.
VARIANTS = ("random_slope", "intercept_only", "random_intercept", "slope_only", "covariates",
            "random_slope_correlated")
# fitted to the same pupils, so PSIS-LOO can compare them (covariates drops the missing msesc)
LOO_VARIANTS = ("intercept_only", "random_intercept", "random_slope", "slope_only", "random_slope_correlated")
# school intercepts and pped slopes, independent or correlated: one program, the data flag `correlated`
SLOPES = ("random_slope", "random_slope_correlated")
PROGRAMS = {"intercept_only": "thai_varying_intercept", "random_intercept": "thai_varying_intercept",
            "covariates": "thai_varying_intercept", "random_slope": "thai_random_slope",
            "slope_only": "thai_slope_only", "random_slope_correlated": "thai_random_slope"}
# the intercept-slope correlation's 2 x 2 matrix: rows and columns labelled by effect
EFFECTS = ("alpha", "beta")
PARAMETERIZATIONS = ("auto", "noncentered", "centered", "noncentered_plain")
LIKELIHOODS = ("auto", "cells", "pupils")
MISSING = ("drop", "raise")
#: Default prior scales, overridden by ``priors=`` (Stan data: no recompile).
PRIORS = {"coef_scale": 10.0, "mean_scale": 100.0, "hyper_scale": 50.0, "lkj_eta": 2.0}
#: Each column argument and its default column name in the shipped data.
COLUMNS = {"outcome": "repeat", "group": "school_id", "pped": "pped", "sex": "sex", "msesc": "msesc"}


def load_data() -> pd.DataFrame:
    """The shipped data (data/README.md): 8582 pupils in 411 schools; msesc missing for 55."""
    return pd.read_csv(data_file("thaieduc.csv"))


def _subset(labels: pd.Series, keep: np.ndarray, schools: int, seed: int, what: str) -> np.ndarray:
    """Rows of a seeded random subset of ``schools`` of the schools with rows kept."""
    if isinstance(schools, bool) or not isinstance(schools, (int, np.integer)) or schools < 2:
        raise DataError(f"{what}: schools must be an integer >= 2, got {schools!r}")
    available = labels[keep].unique()
    try:
        available = np.sort(available)
    except TypeError:  # labels of several kinds (numbers and text): order them as text
        available = np.array(sorted(available, key=str), dtype=object)
    if schools > len(available):
        raise DataError(f"{what}: asked for a subset of {schools} schools, but the data have only "
                        f"{len(available)}")
    chosen = np.random.default_rng(seed).choice(available, size=schools, replace=False)
    return labels.isin(chosen).to_numpy()


def stan_data(
    data: pd.DataFrame | None = None,
    *,
    variant: str = "random_slope",
    parameterization: str = "auto",
    likelihood: str = "auto",
    priors: dict[str, float] | None = None,
    schools: int | None = None,
    subset_seed: int = 0,
    missing: str = "drop",
    **columns: str,
) -> StanData:
    """Validate ``data`` (default: the shipped data) and turn it into Stan data.

    Parameters
    ----------
    variant, parameterization
        One of :data:`VARIANTS`; ``"auto"`` (default: each school's form from the data, see
        hierstan.parameterization and its pilot), ``"noncentered"`` or ``"centered"`` school
        effects. For ``random_slope``, the non-centered form centres each school's pair of effects at its own
        share of pped pupils (the combination its data inform; see the Stan program) and
        ``"noncentered_plain"`` is the textbook form; the two are the same model. Other variants
        treat ``"noncentered_plain"`` as ``"noncentered"``.
    likelihood
        ``"cells"`` (binomial counts per school and covariate pattern), ``"pupils"`` (Bernoulli,
        pupil by pupil) or ``"auto"``: cells when there are at most half as many as pupils.
    priors
        Overrides of :data:`PRIORS`.
    schools, subset_seed
        Fit a random subset of this many schools (the original analysis used 19), drawn with
        ``numpy.random.default_rng(subset_seed)`` from the sorted school ids.
    missing
        ``covariates`` only: pupils whose ``msesc`` is missing cannot enter the model. ``"drop"``
        fits the complete cases and warns with the count (:class:`hierstan.DataWarning`);
        ``"raise"`` refuses.
    columns
        Column names, defaults in :data:`COLUMNS` (``outcome``, ``group``, ``pped``, ``sex``,
        ``msesc``).
    """
    check_choice("thai variant", variant, VARIANTS)
    check_choice("parameterization", parameterization, PARAMETERIZATIONS)
    check_choice("likelihood", likelihood, LIKELIHOODS)
    check_choice("missing", missing, MISSING)
    for name in columns:
        check_choice("thai column argument", name, COLUMNS)
    names = {**COLUMNS, **columns}
    outcome, school, pped = names["outcome"], names["group"], names["pped"]
    fixed = {"intercept_only": [], "random_intercept": [pped],
             "covariates": [names["sex"], pped, names["msesc"]]}.get(variant, [])
    uses_pped = variant != "intercept_only"
    what = "thai data"
    df = load_data() if data is None else require_frame(data, what)
    if isinstance(subset_seed, (bool, np.bool_)) or not isinstance(subset_seed, (int, np.integer)) \
            or subset_seed < 0:
        raise DataError(f"{what}: subset_seed must be an integer >= 0, got {subset_seed!r}")
    require_columns(df, list(dict.fromkeys([outcome, school, *([pped] if uses_pped else []), *fixed])), what)
    distinct_columns(what, outcome=outcome, group=school, **({"pped": pped} if uses_pped else {}),
                     **({"sex": names["sex"], "msesc": names["msesc"]} if variant == "covariates" else {}))
    not_reserved(what, [*([pped] if uses_pped else []), *fixed], [f"{school}_index", *PRIORS])
    labels = label_column(df, school, what)
    # the validated values (0.0/1.0 even if the column held them as text) are what the model gets
    binary = {column: binary_column(df, column, what)
              for column in [outcome, *([pped] if uses_pped else []),
                             *fixed[:1 if variant == "covariates" else 0]]}
    keep = np.ones(len(df), dtype=bool)
    dropped = {"pupils": 0, "schools": 0}
    if variant == "covariates":
        absent = df[names["msesc"]].isna().to_numpy()
        if absent.all():
            raise DataError(f"{what}: column {names['msesc']!r} is missing for every pupil, so no complete "
                            "row remains for the covariates variant")
        if absent.any():
            dropped = {"pupils": int(absent.sum()), "schools": int(labels[absent].nunique())}
            message = (f"{what}: column {names['msesc']!r} is missing for {dropped['pupils']} pupils in "
                       f"{dropped['schools']} schools, and the covariates variant cannot use them")
            if missing == "raise":
                raise DataError(message + "; pass missing='drop' to fit the complete cases")
            warn_user(f"{message}: fitting the {len(df) - dropped['pupils']} complete cases "
                      "(missing='raise' refuses instead)", DataWarning)
            keep = ~absent
    if schools is not None:
        keep &= _subset(labels, keep, schools, subset_seed, what)
    rows = df.loc[keep]
    # every variant has a population sd (of intercepts or of pped slopes): 2 schools at least
    codes, ids = group_codes(rows, school, what, min_groups=2)
    dim = group_dim(school, ("pupil", "coefficient"), what)
    index = f"{dim}_index"
    y = binary[outcome][keep].astype(int)
    X = np.column_stack([numeric_column(rows, c, what) for c in fixed]) if fixed else np.zeros((len(rows), 0))
    x_pped = binary[pped][keep] if uses_pped else np.zeros(len(rows))
    # cells: one per school and covariate pattern (pped may also be a column of X: harmless)
    pattern = pd.DataFrame(X, columns=[f"x{k}" for k in range(X.shape[1])])
    pattern.insert(0, "pped", x_pped)
    pattern.insert(0, "school", codes + 1)
    pattern["y"] = y
    cells = pattern.groupby(list(pattern.columns[:-1]), sort=True)["y"].agg(n="size", y="sum").reset_index()
    use_cells = likelihood == "cells" or (likelihood == "auto" and 2 * len(cells) <= len(y))
    scales = prior_scales(PRIORS, priors)
    # lkj_eta is data of the slopes' program alone
    scales = {k: v for k, v in scales.items() if k != "lkj_eta" or variant in SLOPES}
    correlated = variant == "random_slope_correlated"
    share = np.bincount(codes, weights=x_pped) / np.bincount(codes)
    centre = np.zeros(len(ids)) if parameterization == "noncentered_plain" else share
    # the pair of effects (random_slope*) shares one flag per school
    centered, choice = resolve(parameterization, len(ids), lambda: _pilot(variant, cells, centre), dim)
    per_school = (("alpha", "z_alpha", "beta", "z_beta") if variant in SLOPES
                  else ("beta", "z_beta") if variant == "slope_only" else ("alpha", "z_alpha"))
    pupils = [label for label, kept in zip(row_labels(df), keep) if kept]
    constant = {index: codes, **({pped: x_pped} if uses_pped else {}),
                **{c: X[:, k] for k, c in enumerate(fixed)}}
    return StanData(
        program=PROGRAMS[variant],
        data={"N": len(y), "J": len(ids), "y": y, "school": codes + 1, "K": X.shape[1], "X": X,
              "pped": x_pped, "C": len(cells), "cell_school": cells["school"].to_numpy(),
              "cell_X": cells[pattern.columns[2:-1]].to_numpy(float).reshape(len(cells), X.shape[1]),
              "cell_pped": cells["pped"].to_numpy(float), "cell_n": cells["n"].to_numpy(),
              "cell_y": cells["y"].to_numpy(), "use_cells": int(use_cells), **scales,
              **centered, "pped_centre": centre,
              **({"correlated": int(correlated)} if variant in SLOPES else {}),
              "pointwise": 0, "prior_only": 0},
        outcome=outcome,
        observed=y,
        coords={dim: ids, "pupil": pupils, "coefficient": fixed,
                **({"effect": list(EFFECTS), "effect2": list(EFFECTS)} if correlated else {})},
        dims={**{name: [dim] for name in per_school}, outcome: ["pupil"],
              **({name: ["effect", "effect2"] for name in ("L_Omega", "Omega")} if correlated else {}),
              **({"beta": ["coefficient"]} if PROGRAMS[variant] == "thai_varying_intercept" else {}),
              **{name: ["pupil"] for name in constant}},
        constant={**constant, **scales},
        attrs={"family": FAMILY, "variant": variant, "parameterization": parameterization,
               "parameterization_choice": choice, "likelihood": "cells" if use_cells else "pupils",
               "cells": len(cells),
               "dropped_pupils": dropped["pupils"], "dropped_schools": dropped["schools"],
               "subset_schools": len(ids) if schools else 0, "subset_seed": subset_seed,
               "group_dim": dim, "group_index": index, **column_attrs(**names)},
        # random_slope: at 0.95, 1 divergence in 4000 draws for 1 of 5 seeds (in sigma_beta's far tail)
        rows=rows.copy(),
        adapt_delta=0.99 if variant in SLOPES else 0.95,
        divergence_advice=advice(parameterization),
    )


def _pilot(variant: str, cells: pd.DataFrame, centre: np.ndarray) -> list[EffectChoice]:
    """Each school's choice: the population sds by marginal maximum likelihood (Gauss-Hermite
    quadrature over each school's effects), each school's information about its effects at the
    fitted fixed part, Fisher's sum of n p (1 - p) over its cells. For random_slope that is the
    information about the logit at the school's pped share (the non-centered form's first
    deviate) and, for the slope, its sum weighted by (pped - share)^2; both must be pinned for
    the pair to be centered."""
    school = cells["school"].to_numpy() - 1
    n, y = cells["n"].to_numpy(float), cells["y"].to_numpy(float)
    pped = cells["pped"].to_numpy(float)
    covariates = cells[[c for c in cells.columns if c.startswith("x")]].to_numpy(float)
    ones = np.ones((len(cells), 1))
    pair = variant in SLOPES
    fixed = np.column_stack([ones, pped if pair or variant == "slope_only" else covariates])
    varying = np.column_stack([ones, pped]) if pair else pped[:, None] if variant == "slope_only" else ones
    names = ([("alpha", "sigma_alpha"), ("beta", "sigma_beta")] if pair
             else [("beta", "sigma_beta")] if variant == "slope_only" else [("alpha", "sigma_alpha")])
    _, scales, lowers, p = logistic_scales(school, n, y, fixed, varying, len(centre))
    weight = n * p * (1 - p)
    about = {"alpha": np.ones(len(cells)),
             "beta": pped - centre[school] if pair else pped}
    return [from_scale(effect, scale_name, scale, lower,
                       np.bincount(school, weights=weight * about[effect] ** 2, minlength=len(centre)))
            for (effect, scale_name), scale, lower in zip(names, scales, lowers)]


def simulate(truth: dict[str, float] | None = None, *, data: pd.DataFrame | None = None,
             seed: int = 0) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Outcomes drawn from the ``random_slope`` model at a real design (default: the shipped
    schools and pped): alpha_j ~ normal(mu_alpha, sigma_alpha), beta_j ~ normal(mu_beta,
    sigma_beta), repeat ~ bernoulli(inv_logit(alpha_j + beta_j pped)); with ``rho`` not 0,
    ``random_slope_correlated``'s, where (alpha_j, beta_j) have correlation rho. ``truth`` sets
    the five (defaults: round values near the shipped data's posterior, -1.9, 1.25, -0.65, 0.25,
    and rho 0). Returns the data, with ``repeat`` replaced, and the truth with each school's
    alpha and beta."""
    frame = load_data() if data is None else data.copy()
    values = {"mu_alpha": -1.9, "sigma_alpha": 1.25, "mu_beta": -0.65, "sigma_beta": 0.25, "rho": 0.0}
    for name, value in (truth or {}).items():
        check_choice("thai simulation parameter", name, values)
        values[name] = float(value)
    codes, _ = group_codes(frame, COLUMNS["group"], "simulation design")
    pped = binary_column(frame, COLUMNS["pped"], "simulation design")
    if not -1 < values["rho"] < 1:
        raise DataError(f"simulate: rho must lie strictly between -1 and 1, got {values['rho']!r}")
    rng = np.random.default_rng(seed)
    alpha, beta = effect_pairs(rng, values, codes.max() + 1)
    frame[COLUMNS["outcome"]] = _draw_outcome(rng, alpha, beta, codes, pped)
    return frame, {**values, "alpha": alpha, "beta": beta}


def _draw_outcome(rng: np.random.Generator, alpha: np.ndarray, beta: np.ndarray, codes: np.ndarray,
                  pped: np.ndarray) -> np.ndarray:
    """repeat ~ bernoulli(inv_logit(alpha_school + beta_school * pped)), pupil by pupil (codes:
    0-based schools)."""
    eta = alpha[codes] + beta[codes] * pped
    return (rng.random(len(codes)) < expit(eta)).astype(int)


def _prior_intercepts(rng: np.random.Generator, scales: dict[str, float], J: int) -> dict[str, Any]:
    """model/thai_priors_intercepts.stan: mu_alpha ~ normal(0, mean_scale), sigma_alpha ~
    half-normal(0, hyper_scale); then the school intercepts."""
    drawn: dict[str, Any] = {"mu_alpha": rng.normal(0.0, scales["mean_scale"]),
                             "sigma_alpha": half_normal(rng, scales["hyper_scale"])}
    drawn["alpha"] = rng.normal(drawn["mu_alpha"], drawn["sigma_alpha"], J)
    return drawn


def _prior_slopes(rng: np.random.Generator, scales: dict[str, float], J: int) -> dict[str, Any]:
    """model/thai_priors_slopes.stan: mu_beta ~ normal(0, mean_scale), sigma_beta ~
    half-normal(0, hyper_scale); then the school pped slopes."""
    drawn: dict[str, Any] = {"mu_beta": rng.normal(0.0, scales["mean_scale"]),
                             "sigma_beta": half_normal(rng, scales["hyper_scale"])}
    drawn["beta"] = rng.normal(drawn["mu_beta"], drawn["sigma_beta"], J)
    return drawn


# Each variant's prior draw returns its parameters and every school's intercept and pped slope
# (what the outcome needs, whether the variant has one per school, one in all, or none).
Drawn = tuple[dict[str, Any], np.ndarray, np.ndarray]


def _prior_random_slope(rng: np.random.Generator, scales: dict[str, float], J: int) -> Drawn:
    """thai_random_slope.stan's prior (the same whatever the centring: see the program)."""
    drawn = {**_prior_intercepts(rng, scales, J), **_prior_slopes(rng, scales, J)}
    return drawn, drawn["alpha"], drawn["beta"]


def _prior_random_slope_correlated(rng: np.random.Generator, scales: dict[str, float], J: int) -> Drawn:
    """The same program with ``correlated``: the hyper-parameters, Omega ~ LKJ(lkj_eta), then
    each school's (alpha, beta) bivariate normal."""
    drawn: dict[str, Any] = {"mu_alpha": rng.normal(0.0, scales["mean_scale"]),
                             "sigma_alpha": half_normal(rng, scales["hyper_scale"]),
                             "mu_beta": rng.normal(0.0, scales["mean_scale"]),
                             "sigma_beta": half_normal(rng, scales["hyper_scale"]),
                             "Omega": lkj_corr(rng, scales["lkj_eta"], 2)}
    drawn["alpha"], drawn["beta"] = effect_pairs(rng, {**drawn, "rho": drawn["Omega"][1, 0]}, J)
    return drawn, drawn["alpha"], drawn["beta"]


def _prior_intercept_only(rng: np.random.Generator, scales: dict[str, float], J: int) -> Drawn:
    """thai_varying_intercept.stan with no fixed effects: eta = alpha_j."""
    drawn = _prior_intercepts(rng, scales, J)
    return drawn, drawn["alpha"], np.zeros(J)


def _prior_random_intercept(rng: np.random.Generator, scales: dict[str, float], J: int) -> Drawn:
    """thai_varying_intercept.stan with X = pped: beta (one coefficient) ~ normal(0, coef_scale)."""
    drawn = _prior_intercepts(rng, scales, J)
    drawn["beta"] = rng.normal(0.0, scales["coef_scale"], 1)
    return drawn, drawn["alpha"], np.repeat(drawn["beta"], J)


def _prior_slope_only(rng: np.random.Generator, scales: dict[str, float], J: int) -> Drawn:
    """thai_slope_only.stan's prior: one alpha ~ normal(0, coef_scale) and school pped slopes."""
    drawn = {"alpha": rng.normal(0.0, scales["coef_scale"]), **_prior_slopes(rng, scales, J)}
    return drawn, np.full(J, drawn["alpha"]), drawn["beta"]


# per variant: the program's prior draw, and its user-facing variables in the posterior's order
_PRIOR_DRAWS = {
    "random_slope": (_prior_random_slope,
                     ("mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "alpha", "beta")),
    "intercept_only": (_prior_intercept_only, ("mu_alpha", "sigma_alpha", "alpha")),
    "random_intercept": (_prior_random_intercept, ("mu_alpha", "sigma_alpha", "beta", "alpha")),
    "slope_only": (_prior_slope_only, ("alpha", "mu_beta", "sigma_beta", "beta")),
    "random_slope_correlated": (_prior_random_slope_correlated,
                                ("mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "alpha", "beta",
                                 "Omega")),
}


def simulate_prior(data: pd.DataFrame | None = None, *, variant: str = "random_slope",
                   priors: dict[str, float] | None = None,
                   seed: Seed = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Every parameter of ``variant`` drawn from its program's prior, then each pupil's
    ``repeat`` from them: one draw of the joint model, for simulation-based calibration.

    The priors are those of ``fit(variant=variant, priors=priors)``: hyper-means normal(0,
    mean_scale), hyper-scales half-normal(0, hyper_scale), other coefficients normal(0,
    coef_scale) (docs/models.md §4). The data are always valid 0/1 outcomes, but the defaults
    (mean_scale 100, hyper_scale 50) put most schools' logits beyond +-10, so nearly every
    school repeats all or none: calibration runs that want informative data pass tighter
    ``priors=`` (logit-scale values of a few units). ``covariates`` has no simulator.

    Parameters
    ----------
    data
        The design (default: the shipped data): columns ``school_id`` and, except for
        ``intercept_only``, ``pped`` (0/1). Its ``repeat`` is replaced; the frame passed in is
        not modified.
    variant
        ``"random_slope"``, ``"intercept_only"``, ``"random_intercept"``, ``"slope_only"`` or
        ``"random_slope_correlated"``.
    priors
        Overrides of :data:`PRIORS`, as in :func:`stan_data`.
    seed
        Seed of ``numpy.random.default_rng`` (or a Generator): the same seed, the same output.

    Returns
    -------
    data : pandas.DataFrame
        The design with ``repeat`` simulated.
    truth : dict of numpy.ndarray
        Every user-facing variable of the variant's posterior, shaped as in it (schools in the
        fit's order).
    """
    supported_variant(FAMILY, variant, VARIANTS, tuple(_PRIOR_DRAWS))
    scales = prior_scales(PRIORS, priors)
    frame = design_frame(data, load_data, COLUMNS["outcome"], "thai design")
    # the design checked as fit checks it; its school codes and pped
    prepared = stan_data(frame, variant=variant, priors=scales, parameterization="centered").data
    codes, pped = prepared["school"] - 1, prepared["pped"]
    rng = generator(seed)
    draw, names = _PRIOR_DRAWS[variant]
    truth, intercept, slope = draw(rng, scales, prepared["J"])
    frame[COLUMNS["outcome"]] = _draw_outcome(rng, intercept, slope, codes, pped)
    return frame, as_truth(truth, names)


def school_rates(idata: az.InferenceData, group: str = "posterior_predictive") -> pd.DataFrame:
    """Per school: pupils, observed repeat rate, and the mean and 90% interval of the repeat rate
    in the replicated data of ``group`` (``"posterior_predictive"`` or ``"prior_predictive"``)."""
    return _rates(idata, group)[0]


def replicated_rates(idata: az.InferenceData, group: str = "posterior_predictive") -> np.ndarray:
    """Repeat rate of every school in every replicated data set of ``group``: (draws, schools)."""
    return _rates(idata, group)[1]


def _rates(idata: az.InferenceData, group: str) -> tuple[pd.DataFrame, np.ndarray]:
    outcome, dim = outcome_name(idata), idata.posterior.attrs["group_dim"]
    codes = idata.constant_data[idata.posterior.attrs["group_index"]].values
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    n = np.diff(np.r_[starts, len(codes)])
    replicated = idata[group][outcome].values.reshape(-1, len(codes))[:, order]
    rates = np.add.reduceat(replicated, starts, axis=1) / n
    observed = np.add.reduceat(idata.observed_data[outcome].values[order], starts) / n
    return pd.DataFrame({dim: idata.posterior[dim].values, "n": n, "observed": observed,
                         "replicated_mean": rates.mean(axis=0),
                         "replicated_q05": np.quantile(rates, 0.05, axis=0),
                         "replicated_q95": np.quantile(rates, 0.95, axis=0)}), rates


def _rate_histograms(ax, rates: np.ndarray, observed: np.ndarray, label: str, seed: int = 0) -> None:
    bins = np.linspace(0, 1, 21)
    shown = np.random.default_rng(seed).choice(len(rates), size=min(20, len(rates)), replace=False)
    for i, row in enumerate(rates[shown]):
        ax.hist(row, bins=bins, histtype="step", color="C0", alpha=0.3, label=label if i == 0 else None)
    ax.hist(observed, bins=bins, histtype="step", color="black", lw=2, label="observed")
    ax.set(xlabel="repeat rate of a school", ylabel="schools")
    ax.legend()


def prior_predictive_plot(idata: az.InferenceData) -> Figure:
    """Per-school repeat rates in 20 prior-predictive data sets against the observed ones."""
    table, rates = _rates(idata, "prior_predictive")
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    ax = figure.subplots()
    _rate_histograms(ax, rates, table["observed"].to_numpy(), "prior predictive (20 draws)")
    ax.set_title(f"Prior predictive check ({idata.posterior.attrs['variant']}): "
                 "vague priors put most schools at 0 or 1")
    return figure


def posterior_predictive_plot(idata: az.InferenceData) -> Figure:
    """Left: observed vs replicated rate per school with 90% intervals; right: the distribution of
    school rates, observed and in 20 replicated data sets."""
    table, rates = _rates(idata, "posterior_predictive")
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    left, right = figure.subplots(1, 2)
    left.errorbar(table["observed"], table["replicated_mean"], fmt="o", ms=2, alpha=0.5, elinewidth=0.5,
                  yerr=[table["replicated_mean"] - table["replicated_q05"],
                        table["replicated_q95"] - table["replicated_mean"]])
    left.plot([0, 1], [0, 1], color="black", lw=1)
    left.set(xlabel="observed repeat rate", ylabel="replicated repeat rate (mean, 90%)",
             title="per school")
    _rate_histograms(right, rates, table["observed"].to_numpy(), "posterior predictive (20 draws)")
    right.set_title("distribution over schools")
    figure.suptitle(f"Posterior predictive check ({idata.posterior.attrs['variant']})")
    return figure


def forest_plot(idata: az.InferenceData) -> Figure:
    """Per-school pped effects (log-odds), 90% intervals, ordered by posterior mean."""
    beta, dim = idata.posterior["beta"], idata.posterior.attrs["group_dim"]
    if dim not in beta.dims:
        raise DataError("the forest plot needs per-school pped effects: the random_slope(_correlated) "
                        "or slope_only variant")
    mean = beta.mean(("chain", "draw")).values
    low, high = beta.quantile([0.05, 0.95], ("chain", "draw")).values
    order = np.argsort(mean)
    figure = Figure(figsize=(10, 4.5), layout="constrained")
    ax = figure.subplots()
    rank = np.arange(len(mean))
    ax.vlines(rank, low[order], high[order], color="C0", lw=0.6, alpha=0.6, label="90% interval")
    ax.plot(rank, mean[order], "o", ms=1.5, color="C0", label="posterior mean")
    ax.axhline(float(idata.posterior["mu_beta"].mean()), color="C3", label="population mean mu_beta")
    ax.axhline(0.0, color="black", lw=0.8)
    pped = data_column(idata, "pped")
    ax.set(xlabel=f"{dim}, ordered by posterior mean", ylabel=f"effect of {pped} (log-odds)",
           title=f"Effect of {pped} per {dim} ({idata.posterior.attrs['variant']})")
    ax.legend()
    return figure


def probability_effects(idata: az.InferenceData) -> pd.DataFrame:
    """P(repeat | pped = 0), P(repeat | pped = 1) and their difference, computed draw by draw.

    ``typical group``: a school at the centre of the population (intercept mu_alpha, or alpha in
    slope_only; pped effect mu_beta, or beta in random_intercept): docs/models.md's quantity.
    ``average group``: the average over the fitted schools of each school's probability, which
    differs because inv_logit is not linear. Neither is inv_logit of a coefficient on its own:
    inv_logit(beta) is not a probability of anything.
    """
    post = idata.posterior
    variant = post.attrs["variant"]
    if variant not in ("random_intercept", *SLOPES, "slope_only"):
        raise DataError("probability effects of pped need the random_intercept, random_slope(_correlated) "
                        f"or slope_only variant, not {variant!r}")
    intercept = post["alpha"] if variant == "slope_only" else post["mu_alpha"]
    slope = post["beta"].isel(coefficient=0) if variant == "random_intercept" else post["mu_beta"]
    # each school's log-odds without and with pped (slope_only: one intercept for all)
    dim, outcome, pped = post.attrs["group_dim"], outcome_name(idata), data_column(idata, "pped")
    eta0 = post["alpha"]
    eta0, eta1 = xr.broadcast(eta0, eta0 + (post["beta"] if dim in post["beta"].dims else slope))
    without, with_ = f"P({outcome} | {pped}=0)", f"P({outcome} | {pped}=1)"
    typical, average = "typical group", "average group"
    draws = {
        (typical, without): expit(intercept), (typical, with_): expit(intercept + slope),
        (average, without): expit(eta0).mean(dim), (average, with_): expit(eta1).mean(dim),
    }
    for scale in (typical, average):
        draws[(scale, "difference (1 - 0)")] = draws[(scale, with_)] - draws[(scale, without)]
    rows = {key: {"mean": float(v.mean()), "q05": float(v.quantile(0.05)), "q95": float(v.quantile(0.95))}
            for key, v in draws.items()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(["scale", "quantity"])


def _predict(idata: az.InferenceData, newdata: pd.DataFrame, rng: np.random.Generator) -> Prediction:
    """repeat ~ bernoulli(inv_logit(eta)); a new school's intercept and pped slope drawn from
    normal(mu_alpha, sigma_alpha) and normal(mu_beta, sigma_beta), jointly with the draw's
    correlation for ``random_slope_correlated``. ``mean`` is P(repeat)."""
    post = idata.posterior
    variant = post.attrs["variant"]
    group = data_column(idata, "group")
    fixed = [str(c) for c in post["coefficient"].values] if "coefficient" in post.coords else []
    slope = variant in (*SLOPES, "slope_only")
    pped = data_column(idata, "pped")
    require_columns(newdata, list(dict.fromkeys([group, *fixed, *([pped] if slope else [])])), "new data")
    dim = post.attrs["group_dim"]
    per_school = [name for name in ("alpha", "beta") if name in post and dim in post[name].dims]

    def new(unseen: list[str]) -> dict[str, np.ndarray]:
        size = (post.sizes["chain"] * post.sizes["draw"], len(unseen))
        deviates = {name: rng.standard_normal(size) for name in per_school}
        if "Omega" in post:  # the slope's deviate given the intercept's
            rho = draws_of(post["Omega"].sel(effect="alpha", effect2="beta"))[:, None]
            deviates["beta"] = rho * deviates["alpha"] + np.sqrt(1 - rho**2) * deviates["beta"]
        return {name: draws_of(post[f"mu_{name}"])[:, None]
                + draws_of(post[f"sigma_{name}"])[:, None] * deviates[name] for name in per_school}

    effects = group_draws(idata, newdata[group], per_school, new)
    alpha = effects["alpha"] if "alpha" in effects else draws_of(post["alpha"])[:, None]
    linear = np.broadcast_to(alpha, (alpha.shape[0], len(newdata))).copy()
    if slope:
        linear += effects["beta"] * numeric_column(newdata, pped, "new data")
    if fixed:
        X = np.column_stack([numeric_column(newdata, c, "new data") for c in fixed])
        linear += draws_of(post["beta"], "coefficient") @ X.T
    return Prediction(linear=linear, mean=expit,
                      draw=lambda rng, eta: (rng.random(eta.shape) < expit(eta)).astype(float),
                      log_density=lambda y, eta: np.where(y == 1, log_expit(eta), log_expit(-eta)))


family = Family(name=FAMILY, description=DESCRIPTION, prepare=stan_data, load_data=load_data,
                variants=VARIANTS, parameterizations=PARAMETERIZATIONS, priors=PRIORS,
                columns=COLUMNS, simulate=simulate, simulate_prior=simulate_prior,
                predict=_predict)
fit = family.fit
