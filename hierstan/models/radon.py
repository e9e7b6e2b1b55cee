"""Minnesota radon (docs/models.md §2): log radon by floor, houses within counties.

Variants: ``varying_intercept_slope`` (default; independent intercepts and slopes),
``varying_intercept_slope_correlated`` (the same with their correlation, Omega ~ LKJ(lkj_eta):
lme4's ``(1 + floor | county)``), ``varying_intercept``, ``group_predictor`` (county intercepts
depend on log uranium), ``pooled`` and ``unpooled``; each hierarchical one
``auto`` (default: each county's intercept and slope centered or not from the data, see
hierstan.parameterization), ``noncentered`` or ``centered``. The likelihood is computed from exact sufficient
statistics of the (county, predictor value) cells when that shrinks the work (``likelihood=
"auto"``), house by house otherwise; ``log_lik`` and ``y_rep`` are always per house.
"""

from __future__ import annotations

from typing import Any

import arviz as az
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..errors import DataError, check_choice
from ..family import Family
from ..parameterization import EffectChoice, advice, choose, group_regression, resolve
from ..post_estimation import (
    Prediction,
    data_column,
    draws_of,
    group_draws,
    group_table,
)
from ..prior_draws import (
    Seed,
    as_truth,
    design_frame,
    effect_pairs,
    generator,
    half_cauchy,
    lkj_corr,
    supported_variant,
)
from ..programs import data_file
from ..stan_data import DEFAULT_ADVICE, StanData, column_attrs, group_dim
from ..validation import (
    distinct_columns,
    group_codes,
    not_reserved,
    numeric_column,
    prior_scales,
    require_columns,
    require_frame,
    row_labels,
)

FAMILY = "radon"
DESCRIPTION = "Minnesota radon: log radon by floor, 919 houses in 85 counties (Gelman & Hill)"
#: The variants ``fit`` takes (``variant=``), the default first.
VARIANTS = ("varying_intercept_slope", "varying_intercept", "group_predictor", "pooled", "unpooled",
            "varying_intercept_slope_correlated")
HIERARCHICAL = ("varying_intercept_slope", "varying_intercept", "group_predictor",
                "varying_intercept_slope_correlated")
# varying intercepts and slopes, independent or correlated: one program, the data flag `correlated`
SLOPES = ("varying_intercept_slope", "varying_intercept_slope_correlated")
PROGRAMS = {variant: f"radon_{variant}" for variant in VARIANTS} | {
    "varying_intercept_slope_correlated": "radon_varying_intercept_slope"}
# the intercept-slope correlation's 2 x 2 matrix: rows and columns labelled by effect
EFFECTS = ("alpha", "beta")
PARAMETERIZATIONS = ("auto", "noncentered", "centered")
LIKELIHOODS = ("auto", "cells", "houses")
#: Default prior scales, overridden by ``priors=`` (Stan data: no recompile).
PRIORS = {"coef_scale": 10.0, "hyper_scale": 5.0, "sigma_scale": 5.0, "lkj_eta": 2.0}


def load_data() -> pd.DataFrame:
    """The shipped data (data/README.md): 919 houses, 85 counties."""
    return pd.read_csv(data_file("radon.csv"))




def cells(y: np.ndarray, x: np.ndarray, county: np.ndarray) -> pd.DataFrame:
    """Count, mean and sum of squared deviations of y in each (county, x) cell."""
    frame = pd.DataFrame({"county": county, "x": x, "y": y})
    grouped = frame.groupby(["county", "x"], sort=True)["y"]
    table = grouped.agg(n="size", mean="mean").reset_index()
    table["ss"] = grouped.apply(lambda v: float(((v - v.mean()) ** 2).sum())).to_numpy()
    return table


def stan_data(
    data: pd.DataFrame | None = None,
    *,
    variant: str = "varying_intercept_slope",
    parameterization: str = "auto",
    likelihood: str = "auto",
    priors: dict[str, float] | None = None,
    outcome: str = "log_radon",
    predictor: str = "floor",
    group: str = "county",
    group_predictor: str = "log_uranium",
) -> StanData:
    """Validate ``data`` (default: the shipped data) and turn it into Stan data.

    The column arguments name the outcome, the house-level predictor, the county label and
    (for ``group_predictor`` only) the county-level predictor, which must be constant within
    each county. ``likelihood`` is ``"cells"`` (sufficient statistics per (county, predictor
    value) cell; exact for any predictor), ``"houses"`` or ``"auto"``, which uses the cells when
    there are at most half as many cells as houses.
    """
    check_choice("radon variant", variant, VARIANTS)
    check_choice("parameterization", parameterization, PARAMETERIZATIONS)
    check_choice("likelihood", likelihood, LIKELIHOODS)
    what = "radon data"
    df = load_data() if data is None else require_frame(data, what)
    uses_level = variant == "group_predictor"
    needed = [outcome, predictor, group] + ([group_predictor] if uses_level else [])
    require_columns(df, needed, what)
    distinct_columns(what, outcome=outcome, predictor=predictor, group=group,
                     **({"group_predictor": group_predictor} if uses_level else {}))
    not_reserved(what, [predictor] + ([group_predictor] if uses_level else []), [f"{group}_index", *PRIORS])
    y = numeric_column(df, outcome, what)
    x = numeric_column(df, predictor, what)
    # a population sd (sigma_alpha, sigma_beta) needs two counties; pooled and unpooled need one
    codes, counties = group_codes(df, group, what, min_groups=2 if variant in HIERARCHICAL else 1)
    dim = group_dim(group, ("house",), what)
    u = np.zeros(len(counties))
    if uses_level:
        level = pd.Series(numeric_column(df, group_predictor, what)).groupby(codes)
        varying = [counties[i] for i in np.flatnonzero(level.nunique().to_numpy() > 1)]
        if varying:
            raise DataError(f"{what}: {group_predictor!r} must be constant within each {group}; "
                            f"it varies in {varying[:5]}")
        u = level.first().to_numpy()
    table = cells(y, x, codes + 1)
    use_cells = likelihood == "cells" or (likelihood == "auto" and 2 * len(table) <= len(y))
    scales = prior_scales(PRIORS, priors)
    county_dim = [dim]
    index = f"{dim}_index"
    houses = row_labels(df)
    centered, choice = {}, ""
    if variant in HIERARCHICAL:
        # the varying slope has its own flag (a county can pin its intercept, not its slope)
        flags = ("centered", "centered_slope") if variant in SLOPES else ("centered",)
        centered, choice = resolve(parameterization, len(counties),
                                   lambda: _pilot(variant, y, x, u, codes, len(counties)), dim, flags)
    vectors = {"varying_intercept": ("alpha", "z_alpha"), "group_predictor": ("alpha", "z_alpha"),
               "unpooled": ("alpha", "beta"), "pooled": ()}.get(variant,
                                                                 ("alpha", "beta", "z_alpha", "z_beta"))
    correlated = variant == "varying_intercept_slope_correlated"
    # lkj_eta is data of the slopes' program alone
    scales = {k: v for k, v in scales.items() if k != "lkj_eta" or variant in SLOPES}
    return StanData(
        program=PROGRAMS[variant],
        data={
            "N": len(y), "J": len(counties), "y": y, "x": x, "county": codes + 1, "u": u,
            "K": len(table), "cell_county": table["county"].to_numpy(),
            "cell_x": table["x"].to_numpy(float),
            "cell_n": table["n"].to_numpy(float), "cell_mean": table["mean"].to_numpy(),
            "within_ss": float(table["ss"].sum()), "use_cells": int(use_cells), **scales,
            "pointwise": 0, "prior_only": 0,
            **centered, **({"correlated": int(correlated)} if variant in SLOPES else {}),
        },
        outcome=outcome,
        observed=y,
        coords={dim: counties, "house": houses,
                **({"effect": list(EFFECTS), "effect2": list(EFFECTS)} if correlated else {})},
        dims={**{name: county_dim for name in vectors}, outcome: ["house"], predictor: ["house"],
              **({name: ["effect", "effect2"] for name in ("L_Omega", "Omega")} if correlated else {}),
              index: ["house"], **({group_predictor: county_dim} if uses_level else {})},
        # the county-level predictor only where the variant uses it (others give Stan zeros)
        constant={predictor: x, index: codes, **({group_predictor: u} if uses_level else {}), **scales},
        attrs={"family": FAMILY, "variant": variant, "parameterization": parameterization,
               "parameterization_choice": choice, "likelihood": "cells" if use_cells else "houses",
               "predictor": predictor,
               "group_dim": dim, "group_index": index,
               **column_attrs(outcome=outcome, predictor=predictor, group=group,
                              group_predictor=group_predictor)},
        rows=df.copy(),
        adapt_delta=0.95,
        divergence_advice=advice(parameterization) if variant in HIERARCHICAL else DEFAULT_ADVICE,
    )


def _pilot(variant: str, y: np.ndarray, x: np.ndarray, u: np.ndarray, codes: np.ndarray,
           counties: int) -> list[EffectChoice]:
    """Each county's intercept (and slope) choice from least squares within counties: the
    intercept's estimate is the county mean of y - b x with b the pooled within-county slope
    (its variance sigma_y^2 / n_j: what the county's houses say given the slope), the slope's
    the county's own (variance sigma_y^2 / its sum of squares of x; none where x is constant)."""
    n = np.bincount(codes, minlength=counties)
    coef, variance, noise = group_regression(y, np.column_stack([np.ones_like(x), x]), codes, counties)
    x_mean = np.bincount(codes, weights=x, minlength=counties) / n
    dx = x - x_mean[codes]
    sxx = np.sum(dx * dx)
    slope = float(np.sum(dx * y) / sxx) if sxx > 0 else 0.0
    intercept = np.bincount(codes, weights=y - slope * x, minlength=counties) / n
    design = np.column_stack([np.ones(counties), u]) if variant == "group_predictor" else None
    choices = [choose("alpha", "sigma_alpha", intercept, noise / n, design)]
    if variant in SLOPES:
        choices.append(choose("beta", "sigma_beta", coef[:, 1], variance[:, 1]))
    return choices


#: The population values :func:`simulate` draws counties and houses from.
SIMULATION_TRUTH = {"mu_alpha": 1.5, "sigma_alpha": 0.35, "mu_beta": -0.65, "sigma_beta": 0.3,
                    "sigma_y": 0.75, "rho": 0.0}


def simulate(J: int = 1000, N: int = 10_000, *, truth: dict[str, float] | None = None,
             floor_share: float = 0.2, design: str = "uniform",
             seed: int = 0) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Radon-like data drawn from the ``varying_intercept_slope`` model, or with ``truth["rho"]``
    not 0 from ``varying_intercept_slope_correlated``: ``N`` houses in ``J`` counties, floor 1
    with probability ``floor_share``. ``truth`` overrides :data:`SIMULATION_TRUTH` (round values
    near the real data's posterior; ``rho`` is the correlation of a county's intercept and
    slope). Returns the data (columns county, floor, log_radon) and the truth, including each
    county's alpha and beta.

    ``design`` sets the houses per county:

    - ``"uniform"``: every county one house, the other ``N - J`` fall uniformly at random
      (multinomial sizes around ``N / J``).
    - ``"balanced"``: exactly ``N / J`` houses in every county (``N`` must be a multiple of ``J``).
    - ``"skewed"``: every county one house, the other ``N - J`` shared in proportion to weights
      drawn from lognormal(0, 1.2), rounded by largest remainder so the total is exactly ``N``.
      Like the real data (1 to 116 houses, median 5) the largest county holds tens of times the
      median: with J=1000 and N=20,000 the median is about 10 houses and the largest several
      hundred.
    """
    check_choice("radon simulation design", design, ("uniform", "balanced", "skewed"))
    if J < 2 or N < J:
        raise DataError(f"simulate needs J >= 2 counties and N >= J houses, got J={J}, N={N}")
    if design == "balanced" and N % J:
        raise DataError(f"simulate's balanced design needs N a multiple of J, got J={J}, N={N}")
    values = {**SIMULATION_TRUTH, **(truth or {})}
    if not -1 < values["rho"] < 1:
        raise DataError(f"simulate: rho must lie strictly between -1 and 1, got {values['rho']!r}")
    rng = np.random.default_rng(seed)
    alpha, beta = effect_pairs(rng, values, J)
    # uniform keeps its original draw order, so a seed gives the same data as before designs existed
    if design == "uniform":
        county = np.concatenate([np.arange(J), rng.integers(0, J, N - J)])
    else:
        if design == "balanced":
            sizes = np.full(J, N // J)
        else:
            share = rng.lognormal(0.0, 1.2, J)
            share = share / share.sum() * (N - J)
            extra = np.floor(share).astype(int)
            # the houses lost to rounding go to the largest remainders: the total is exactly N
            extra[np.argsort(extra - share, kind="stable")[: N - J - extra.sum()]] += 1
            sizes = 1 + extra
        county = np.repeat(np.arange(J), sizes)
    floor = (rng.random(N) < floor_share).astype(float)
    y = _draw_outcome(rng, alpha, beta, county, floor, values["sigma_y"])
    labels = np.char.add("C", np.char.zfill(county.astype(str), len(str(J - 1))))
    frame = pd.DataFrame({"county": labels, "floor": floor, "log_radon": y})
    return frame, {**values, "alpha": alpha, "beta": beta}


def _draw_outcome(rng: np.random.Generator, alpha: np.ndarray, beta: np.ndarray, county: np.ndarray,
                  x: np.ndarray, sigma_y: float) -> np.ndarray:
    """log radon ~ normal(alpha_county + beta_county * x, sigma_y), house by house (county: 0-based)."""
    return rng.normal(alpha[county] + beta[county] * x, sigma_y)


def _prior_varying_intercept_slope(rng: np.random.Generator, scales: dict[str, float],
                                   u: np.ndarray) -> dict[str, Any]:
    """radon_varying_intercept_slope.stan's prior: independent county intercepts and slopes."""
    J = len(u)
    drawn: dict[str, Any] = {"sigma_y": half_cauchy(rng, scales["sigma_scale"]),
                             "mu_alpha": rng.normal(0.0, scales["coef_scale"]),
                             "sigma_alpha": half_cauchy(rng, scales["hyper_scale"]),
                             "mu_beta": rng.normal(0.0, scales["coef_scale"]),
                             "sigma_beta": half_cauchy(rng, scales["hyper_scale"])}
    drawn["alpha"] = rng.normal(drawn["mu_alpha"], drawn["sigma_alpha"], J)
    drawn["beta"] = rng.normal(drawn["mu_beta"], drawn["sigma_beta"], J)
    return drawn


def _prior_varying_intercept_slope_correlated(rng: np.random.Generator, scales: dict[str, float],
                                              u: np.ndarray) -> dict[str, Any]:
    """The same program with ``correlated``: Omega ~ LKJ(lkj_eta), then county (alpha, beta)
    bivariate normal."""
    drawn: dict[str, Any] = {"sigma_y": half_cauchy(rng, scales["sigma_scale"]),
                             "mu_alpha": rng.normal(0.0, scales["coef_scale"]),
                             "sigma_alpha": half_cauchy(rng, scales["hyper_scale"]),
                             "mu_beta": rng.normal(0.0, scales["coef_scale"]),
                             "sigma_beta": half_cauchy(rng, scales["hyper_scale"]),
                             "Omega": lkj_corr(rng, scales["lkj_eta"], 2)}
    drawn["alpha"], drawn["beta"] = effect_pairs(rng, {**drawn, "rho": drawn["Omega"][1, 0]}, len(u))
    return drawn


def _prior_varying_intercept(rng: np.random.Generator, scales: dict[str, float],
                             u: np.ndarray) -> dict[str, Any]:
    """radon_varying_intercept.stan's prior: county intercepts about mu_alpha, one slope."""
    drawn: dict[str, Any] = {"sigma_y": half_cauchy(rng, scales["sigma_scale"]),
                             "mu_alpha": rng.normal(0.0, scales["coef_scale"]),
                             "sigma_alpha": half_cauchy(rng, scales["hyper_scale"]),
                             "beta": rng.normal(0.0, scales["coef_scale"])}
    drawn["alpha"] = rng.normal(drawn["mu_alpha"], drawn["sigma_alpha"], len(u))
    return drawn


def _prior_group_predictor(rng: np.random.Generator, scales: dict[str, float],
                           u: np.ndarray) -> dict[str, Any]:
    """radon_group_predictor.stan's prior: county intercepts about gamma_0 + gamma_1 * u."""
    drawn: dict[str, Any] = {"sigma_y": half_cauchy(rng, scales["sigma_scale"]),
                             "gamma_0": rng.normal(0.0, scales["coef_scale"]),
                             "gamma_1": rng.normal(0.0, scales["coef_scale"]),
                             "sigma_alpha": half_cauchy(rng, scales["hyper_scale"]),
                             "beta": rng.normal(0.0, scales["coef_scale"])}
    drawn["alpha"] = rng.normal(drawn["gamma_0"] + drawn["gamma_1"] * u, drawn["sigma_alpha"])
    return drawn


def _prior_pooled(rng: np.random.Generator, scales: dict[str, float], u: np.ndarray) -> dict[str, Any]:
    """radon_pooled.stan's prior: one intercept and slope."""
    return {"sigma_y": half_cauchy(rng, scales["sigma_scale"]),
            "alpha": rng.normal(0.0, scales["coef_scale"]), "beta": rng.normal(0.0, scales["coef_scale"])}


def _prior_unpooled(rng: np.random.Generator, scales: dict[str, float], u: np.ndarray) -> dict[str, Any]:
    """radon_unpooled.stan's prior: every county's intercept and slope normal(0, coef_scale)."""
    return {"sigma_y": half_cauchy(rng, scales["sigma_scale"]),
            "alpha": rng.normal(0.0, scales["coef_scale"], len(u)),
            "beta": rng.normal(0.0, scales["coef_scale"], len(u))}


# per variant: the program's prior draw, and its user-facing variables in the posterior's order
_PRIOR_DRAWS = {
    "varying_intercept_slope": (_prior_varying_intercept_slope,
                                ("sigma_y", "mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "alpha",
                                 "beta")),
    "varying_intercept_slope_correlated": (_prior_varying_intercept_slope_correlated,
                                           ("sigma_y", "mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta",
                                            "alpha", "beta", "Omega")),
    "varying_intercept": (_prior_varying_intercept, ("sigma_y", "mu_alpha", "sigma_alpha", "beta", "alpha")),
    "group_predictor": (_prior_group_predictor,
                        ("sigma_y", "gamma_0", "gamma_1", "sigma_alpha", "beta", "alpha")),
    "pooled": (_prior_pooled, ("sigma_y", "alpha", "beta")),
    "unpooled": (_prior_unpooled, ("sigma_y", "alpha", "beta")),
}


def simulate_prior(data: pd.DataFrame | None = None, *, variant: str = "varying_intercept_slope",
                   priors: dict[str, float] | None = None,
                   seed: Seed = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Every parameter of ``variant`` drawn from its program's prior, then log radon from them:
    one draw of the joint model, for simulation-based calibration.

    The priors are those of ``fit(variant=variant, priors=priors)``: sigma_y ~ half-Cauchy(0,
    sigma_scale); intercepts, slopes and hyper-means (mu_alpha, mu_beta, gamma_0, gamma_1)
    normal(0, coef_scale); hyper-scales half-Cauchy(0, hyper_scale); county effects normal about
    their population (docs/models.md §2). The defaults are vague for data on the log scale: the
    largest ``|log radon|`` of a data set is typically in the tens and, from the Cauchy tails, in
    the thousands about once in a hundred (the real data stay within 4); only a far-tail draw
    would pass 1e12, which :func:`stan_data` refuses. Calibration runs on data like the real
    ones pass tighter ``priors=`` (e.g. coef_scale 2, hyper_scale 1, sigma_scale 1).

    Parameters
    ----------
    data
        The design (default: the shipped data): columns ``county``, ``floor`` and, for
        ``group_predictor``, ``log_uranium``. Its ``log_radon`` is replaced; the frame passed in
        is not modified.
    variant
        Any of :data:`VARIANTS`.
    priors
        Overrides of :data:`PRIORS`, as in :func:`stan_data`.
    seed
        Seed of ``numpy.random.default_rng`` (or a Generator): the same seed, the same output.

    Returns
    -------
    data : pandas.DataFrame
        The design with ``log_radon`` simulated.
    truth : dict of numpy.ndarray
        Every user-facing variable of the variant's posterior, shaped as in it (county effects
        in the fit's county order).
    """
    supported_variant(FAMILY, variant, VARIANTS, tuple(_PRIOR_DRAWS))
    scales = prior_scales(PRIORS, priors)
    frame = design_frame(data, load_data, "log_radon", "radon design")
    # the design checked as fit checks it; its county codes, floor and county-level u
    prepared = stan_data(frame, variant=variant, priors=scales, parameterization="centered",
                         likelihood="houses").data
    county, x, u = prepared["county"] - 1, prepared["x"], prepared["u"]
    rng = generator(seed)
    draw, names = _PRIOR_DRAWS[variant]
    truth = draw(rng, scales, u)
    J = len(u)
    alpha, beta = (np.broadcast_to(truth[name], J) for name in ("alpha", "beta"))
    frame["log_radon"] = _draw_outcome(rng, alpha, beta, county, x, truth["sigma_y"])
    return frame, as_truth(truth, names)


def shrinkage_plot(unpooled: az.InferenceData, hierarchical: az.InferenceData,
                   pooled: az.InferenceData) -> Figure:
    """County intercepts, unpooled vs hierarchical, against county size; pooled as a line."""
    figure = Figure(figsize=(8, 5), layout="constrained")
    ax = figure.subplots()
    for idata, label, color in ((unpooled, "unpooled", "C1"), (hierarchical, "hierarchical", "C0")):
        table = group_table(idata)
        jitter = table["n"] * np.exp(np.random.default_rng(0).uniform(-0.05, 0.05, len(table)))
        ax.scatter(jitter, table["alpha_mean"], s=14, color=color, alpha=0.7, label=label)
    ax.axhline(float(pooled.posterior["alpha"].mean()), color="k", lw=1, label="pooled")
    ax.set(xscale="log", xlabel="houses in county (log scale)", ylabel="county intercept (basement)",
           title="Radon: partial pooling pulls small counties towards the mean")
    ax.legend()
    return figure


def _predict(idata: az.InferenceData, newdata: pd.DataFrame, rng: np.random.Generator) -> Prediction:
    """log radon ~ normal(alpha_county + beta_county * predictor, sigma_y); a new county's
    intercept (and slope) drawn from the population (jointly, with the draw's correlation, for
    ``varying_intercept_slope_correlated``), centred for ``group_predictor`` at
    gamma_0 + gamma_1 * its county-level predictor; for ``unpooled``, from their prior."""
    post = idata.posterior
    variant = post.attrs["variant"]
    group, predictor = data_column(idata, "group"), data_column(idata, "predictor")
    level = data_column(idata, "group_predictor")
    needed = [group, predictor] + ([level] if variant == "group_predictor" else [])
    require_columns(newdata, needed, "new data")
    x = numeric_column(newdata, predictor, "new data")
    per_county = [name for name in ("alpha", "beta") if post.attrs["group_dim"] in post[name].dims]

    def new(unseen: list[str]) -> dict[str, np.ndarray]:
        size = (post.sizes["chain"] * post.sizes["draw"], len(unseen))
        if variant == "group_predictor":
            u = pd.Series(numeric_column(newdata, level, "new data")).groupby(
                newdata[group].astype(str).to_numpy()).first()[unseen].to_numpy()
            centre = draws_of(post["gamma_0"])[:, None] + draws_of(post["gamma_1"])[:, None] * u
        else:
            centre = draws_of(post["mu_alpha"])[:, None]
        deviate = rng.standard_normal(size)
        drawn = {"alpha": centre + draws_of(post["sigma_alpha"])[:, None] * deviate}
        if "beta" in per_county:
            # the slope given the intercept's deviate (rho 0 when independent)
            rho = (draws_of(post["Omega"].sel(effect="alpha", effect2="beta"))[:, None]
                   if "Omega" in post else 0.0)
            drawn["beta"] = (draws_of(post["mu_beta"])[:, None] + draws_of(post["sigma_beta"])[:, None]
                             * (rho * deviate + np.sqrt(1 - rho**2) * rng.standard_normal(size)))
        return drawn

    def from_prior(unseen: list[str]) -> dict[str, np.ndarray]:
        # unpooled: the data of other counties say nothing about this one, so its posterior is its
        # prior, normal(0, coef_scale) for the intercept and the slope (very wide: honest)
        scale = float(idata.constant_data["coef_scale"].values.item())
        size = (post.sizes["chain"] * post.sizes["draw"], len(unseen))
        return {name: scale * rng.standard_normal(size) for name in per_county}

    effects = group_draws(idata, newdata[group], per_county, from_prior if variant == "unpooled" else new)
    alpha = effects["alpha"] if "alpha" in effects else draws_of(post["alpha"])[:, None]
    beta = effects["beta"] if "beta" in effects else draws_of(post["beta"])[:, None]
    return Prediction.normal(alpha + beta * x, draws_of(post["sigma_y"])[:, None])


family = Family(name=FAMILY, description=DESCRIPTION, prepare=stan_data, load_data=load_data,
                variants=VARIANTS, parameterizations=PARAMETERIZATIONS, priors=PRIORS,
                columns={"outcome": "log_radon", "group": "county", "predictor": "floor",
                         "group_predictor": "log_uranium"},
                simulate=simulate, simulate_prior=simulate_prior, predict=_predict)
fit = family.fit
