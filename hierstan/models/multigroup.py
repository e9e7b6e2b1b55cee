"""G-group linear regression (docs/models.md §3): synthetic data from the package's own simulator.

y_i ~ normal(x_i' w_{g[i]}, sigma), x_i in R^m, no intercept. Variants: ``hierarchical``
(default), w_g ~ multi_normal(mu_w, diag(tau) Omega diag(tau)) with mu_w ~ normal(0, 10),
tau ~ half-normal(0, 5), Omega ~ LKJ(2); ``pooled``, one w for every group, w ~ normal(0, 10);
``separate``, each w_g independent, ~ normal(0, 10). sigma ~ half-normal(0, 5), or the original
analysis's inverse-gamma(2.01, 1.01) (mean 1, sd 10) with ``sigma_prior="inv_gamma"``. Every prior
setting and switch is Stan data, so none needs a recompile.

The hierarchical program samples either parameterization, group by group (``parameterization=``;
default ``auto``: each group's form from the data). docs/models.md writes it non-centered,
w_g = mu_w + diag(tau) L_Omega z_g, but with 1000 rows per group the data pin each w_g to about
+-0.02, so non-centered z_g must follow (mu_w, tau, L_Omega) along a ridge that narrow; NUTS then
takes steps of ~0.001, hits the maximum tree depth on almost every draw and leaves R-hat above
1.01 (measured on the default simulation). Non-centered suits groups whose rows say little about
their w_g (few rows, much noise, compared with the spread of w between groups).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..errors import DataError, check_choice
from ..family import Family
from ..parameterization import EffectChoice, advice, choose, group_regression, resolve
from ..post_estimation import Prediction, data_column, draws_of, group_draws
from ..prior_draws import (
    Seed,
    as_truth,
    design_frame,
    generator,
    half_normal,
    inv_gamma,
    lkj_corr,
    supported_variant,
)
from ..stan_data import DEFAULT_ADVICE, StanData, column_attrs, group_dim
from ..validation import (
    distinct_columns,
    group_codes,
    numeric_column,
    prior_scales,
    require_columns,
    require_frame,
)

FAMILY = "multigroup"
DESCRIPTION = "G-group linear regression: pooled, separate or hierarchical coefficient vectors"
#: The variants ``fit`` takes (``variant=``), the default first.
VARIANTS = ("hierarchical", "pooled", "separate")
# inverse-gamma with mean 1 and sd 10: shape a = 2 + mean^2 / sd^2, scale b = mean * (a - 1)
_SIGMA = {"sigma_scale": 5.0, "sigma_ig_shape": 2.01, "sigma_ig_scale": 1.01}
#: Default prior settings of each variant, overridden by ``priors=``.
PRIORS = {
    "pooled": {"w_scale": 10.0, **_SIGMA},
    "separate": {"w_scale": 10.0, **_SIGMA},
    "hierarchical": {"mu_w_scale": 10.0, "tau_scale": 5.0, "lkj_eta": 2.0, **_SIGMA},
}
SIGMA_PRIORS = {"half_normal": 1, "inv_gamma": 2}  # the Stan data flag sigma_prior
PARAMETERIZATIONS = ("auto", "centered", "noncentered")  # of the hierarchical variant
# the original example: group a's coefficients; group b has their negatives
ORIGINAL_W = (1.0, 3.5, 6.0)
# sd of the coefficients drawn when the original ones do not apply (G > 2 or m != 3)
DRAWN_W_SD = 3.0
NOISE_SD = 0.5


def _group_labels(G: int) -> list[str]:
    if G <= len(string.ascii_lowercase):
        return list(string.ascii_lowercase[:G])
    return [f"g{g:0{len(str(G))}d}" for g in range(1, G + 1)]


def simulate(
    G: int = 2,
    n: int = 1000,
    m: int = 3,
    w: Any = None,
    noise_sd: float = NOISE_SD,
    seed: int | None = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate G groups of n rows each from y_i = x_i' w_{g[i]} + noise.

    The defaults reproduce the original example: groups ``a`` and ``b``, 1000 rows each, three
    predictors, w_a = (1, 3.5, 6), w_b = -w_a, x ~ normal(0, 1), noise sd 0.5.

    Parameters
    ----------
    G, n, m
        Groups (>= 2), rows per group (>= 1) and predictors (>= 1).
    w
        True coefficients, shape (G, m). ``None``: the original (w_a, -w_a) when G = 2 and
        m = 3, otherwise every w[g, k] drawn from normal(0, 3) with the same generator.
    noise_sd
        Standard deviation of the noise (> 0).
    seed
        Seed of ``numpy.random.default_rng``; it draws w (if drawn), then x row by row, then
        the noise, so the same seed gives the same data.

    Returns
    -------
    data : pandas.DataFrame
        Columns ``group`` (labels a, b, ...; rows grouped in that order), ``x1``..``xm``, ``y``.
    true_w : pandas.DataFrame
        The coefficients used, one row per group label and one column per predictor.
    """
    for name, value, low in (("G", G, 2), ("n", n, 1), ("m", m, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise DataError(f"multigroup simulate: {name} must be an integer >= {low}, got {value!r}")
    if not (isinstance(noise_sd, (int, float, np.number)) and np.isfinite(noise_sd) and noise_sd > 0):
        raise DataError(f"multigroup simulate: noise_sd must be finite and > 0, got {noise_sd!r}")
    rng = np.random.default_rng(seed)
    if w is None:
        original = np.array(ORIGINAL_W)
        w = np.vstack([original, -original]) if (G, m) == (2, 3) else rng.normal(0, DRAWN_W_SD, (G, m))
    w = np.asarray(w, dtype=float)
    if w.shape != (G, m) or not np.all(np.isfinite(w)):
        raise DataError(f"multigroup simulate: w must be finite with shape (G, m) = ({G}, {m}), "
                        f"got shape {w.shape}")
    labels = _group_labels(G)
    predictors = [f"x{k}" for k in range(1, m + 1)]
    group = np.repeat(np.arange(G), n)
    x = rng.normal(0.0, 1.0, (G * n, m))
    y = _draw_outcome(rng, x, w[group], noise_sd)
    data = pd.DataFrame(x, columns=predictors)
    data.insert(0, "group", np.array(labels)[group])
    data["y"] = y
    true_w = pd.DataFrame(w, index=pd.Index(labels, name="group"),
                          columns=pd.Index(predictors, name="coefficient"))
    return data, true_w


def _draw_outcome(rng: np.random.Generator, x: np.ndarray, w_rows: np.ndarray, sigma: float) -> np.ndarray:
    """y_i ~ normal(x_i' w_i, sigma), with w_i the coefficients of row i's group (rows of ``w_rows``)."""
    return np.einsum("ik,ik->i", x, w_rows) + rng.normal(0.0, sigma, len(x))


def load_data() -> pd.DataFrame:
    """The default simulation (the original example); see :func:`simulate`."""
    return simulate()[0]


def _default_predictors(df: pd.DataFrame, what: str) -> list[str]:
    predictors = []
    while f"x{len(predictors) + 1}" in df.columns:
        predictors.append(f"x{len(predictors) + 1}")
    if not predictors:
        raise DataError(f"{what}: no predictor columns x1, x2, ...; name them with predictors=[...]")
    return predictors


def stan_data(
    data: pd.DataFrame | None = None,
    *,
    variant: str = "hierarchical",
    priors: dict[str, float] | None = None,
    group: str = "group",
    predictors: Sequence[str] | None = None,
    outcome: str = "y",
    sigma_prior: str = "half_normal",
    parameterization: str | None = None,
) -> StanData:
    """Validate ``data`` (default: :func:`load_data`) and turn it into Stan data.

    Parameters
    ----------
    data
        One row per observation: a group label, the predictors and the outcome.
    variant
        ``"hierarchical"``, ``"pooled"`` or ``"separate"``.
    priors
        Overrides of the variant's entries in :data:`PRIORS` (``w_scale``; or ``mu_w_scale``,
        ``tau_scale``, ``lkj_eta``; and ``sigma_scale``, ``sigma_ig_shape``, ``sigma_ig_scale``).
    group, predictors, outcome
        Column names; ``predictors`` defaults to the columns x1, x2, ... in that order.
    sigma_prior
        ``"half_normal"`` (sigma ~ half-normal(0, sigma_scale)) or ``"inv_gamma"``
        (sigma ~ inverse-gamma(sigma_ig_shape, sigma_ig_scale)).
    parameterization
        Hierarchical variant only: ``"auto"`` (default: each group's form from the data, see
        hierstan.parameterization), ``"centered"`` (groups with many rows) or ``"noncentered"``
        (groups whose rows say little about their w_g); see the module notes.

    Returns
    -------
    StanData
        Coordinates named after the group column (labels in natural order, or category order
        for a Categorical column), ``coefficient`` and ``coefficient2`` (predictor names, the second
        for the rows of Omega) and ``obs`` (row position in ``data``).
    """
    check_choice("multigroup variant", variant, VARIANTS)
    check_choice("multigroup sigma prior", sigma_prior, SIGMA_PRIORS)
    if variant != "hierarchical" and parameterization is not None:
        raise DataError(f"parameterization applies to the hierarchical variant only, not {variant!r}")
    if variant == "hierarchical":
        parameterization = check_choice("multigroup parameterization", parameterization or "auto",
                                        PARAMETERIZATIONS)
    what = "multigroup data"
    df = load_data() if data is None else require_frame(data, what)
    if predictors is None:
        predictors = _default_predictors(df, what)
    elif isinstance(predictors, str):  # a single name is one predictor, not a sequence of characters
        predictors = [predictors]
    elif isinstance(predictors, (list, tuple, pd.Index)):
        predictors = list(predictors)
    else:
        raise DataError(f"{what}: predictors must be a column name or a list of column names, "
                        f"got {type(predictors).__name__}")
    if not predictors:
        raise DataError(f"{what}: at least one predictor column is needed (m >= 1)")
    require_columns(df, [group, *predictors, outcome], what)
    distinct_columns(what, group=group, predictors=predictors, outcome=outcome)
    codes, labels = group_codes(df, group, what, min_groups=2)
    dim = group_dim(group, ("coefficient", "coefficient2", "obs"), what)
    X = np.column_stack([numeric_column(df, c, what) for c in predictors])
    y = numeric_column(df, outcome, what)
    scales = prior_scales(PRIORS[variant], priors)
    w_dims = ["coefficient"] if variant == "pooled" else [dim, "coefficient"]
    def pilot() -> list[EffectChoice]:
        # least squares within each group; a group's w_g is sampled as a vector (one flag):
        # centered only where its rows pin every coefficient
        coef, variance, _ = group_regression(y, X, codes, len(labels))
        return [choose(f"w[{name}]", f"tau[{name}]", coef[:, k], variance[:, k])
                for k, name in enumerate(predictors)]

    centered, choice = resolve(parameterization, len(labels), pilot, dim) if parameterization else ({}, "")
    return StanData(
        program=f"multigroup_{variant}",
        data={"N": len(df), "G": len(labels), "m": len(predictors), "X": X, "group": codes + 1,
              "y": y, "sigma_prior": SIGMA_PRIORS[sigma_prior], **scales, "prior_only": 0, "pointwise": 0,
              **centered},
        outcome=outcome,
        observed=y,
        coords={dim: labels, "coefficient": predictors, "coefficient2": predictors,
                "obs": np.arange(len(df))},
        dims={"w": w_dims, "z_w": [dim, "coefficient"], "mu_w": ["coefficient"], "z_mu": ["coefficient"],
              "tau": ["coefficient"], "L_Omega": ["coefficient", "coefficient2"],
              "Omega": ["coefficient", "coefficient2"], outcome: ["obs"],
              "X": ["obs", "coefficient"], f"{dim}_index": ["obs"]},
        # 0-based like every family's group index (Stan's data has them 1-based)
        constant={"X": X, f"{dim}_index": codes, **scales},
        attrs={"family": FAMILY, "variant": variant, "sigma_prior": sigma_prior,
               "parameterization": parameterization, "parameterization_choice": choice,
               "group_dim": dim,
               "group_index": f"{dim}_index",
               **column_attrs(outcome=outcome, group=group, predictors=predictors)},
        # two groups say little about an m x m covariance: its posterior reaches towards singular
        # Sigma. With mu_w sampled about the centered groups' mean (the program) the default data
        # still diverged 0-4 times in 4000 draws at 0.99 (3 of 10 seeds), at Omega's boundary
        # with a small tau; at 0.999, 0 in 10 seeds, for 30% more sampling time
        rows=df.copy(),
        adapt_delta=0.999 if variant == "hierarchical" else 0.8,
        divergence_advice=advice(parameterization) if parameterization else DEFAULT_ADVICE,
    )


def _prior_sigma(rng: np.random.Generator, scales: dict[str, float], sigma_prior: str) -> float:
    """The noise sd's prior as model/multigroup_priors.stan switches it (the sigma_prior flag)."""
    if sigma_prior == "inv_gamma":
        return inv_gamma(rng, scales["sigma_ig_shape"], scales["sigma_ig_scale"])
    return half_normal(rng, scales["sigma_scale"])


def _prior_hierarchical(rng: np.random.Generator, scales: dict[str, float], G: int, m: int) -> dict[str, Any]:
    """multigroup_hierarchical.stan's prior: mu_w ~ normal(0, mu_w_scale), tau ~ half-normal(0,
    tau_scale), Omega ~ LKJ(lkj_eta), w_g ~ multi_normal(mu_w, diag(tau) Omega diag(tau))."""
    mu_w = rng.normal(0.0, scales["mu_w_scale"], m)
    tau = half_normal(rng, scales["tau_scale"], m)
    omega = lkj_corr(rng, scales["lkj_eta"], m)
    w = rng.multivariate_normal(mu_w, omega * np.outer(tau, tau), size=G)
    return {"mu_w": mu_w, "tau": tau, "Omega": omega, "w": w}


def _prior_pooled(rng: np.random.Generator, scales: dict[str, float], G: int, m: int) -> dict[str, Any]:
    """multigroup_pooled.stan's prior: one w ~ normal(0, w_scale)."""
    return {"w": rng.normal(0.0, scales["w_scale"], m)}


def _prior_separate(rng: np.random.Generator, scales: dict[str, float], G: int, m: int) -> dict[str, Any]:
    """multigroup_separate.stan's prior: every w[g, k] ~ normal(0, w_scale)."""
    return {"w": rng.normal(0.0, scales["w_scale"], (G, m))}


# per variant: the program's prior draw of the coefficients, and the user-facing variables in the
# posterior's order
_PRIOR_DRAWS = {
    "hierarchical": (_prior_hierarchical, ("tau", "sigma", "mu_w", "w", "Omega")),
    "pooled": (_prior_pooled, ("w", "sigma")),
    "separate": (_prior_separate, ("w", "sigma")),
}


def simulate_prior(data: pd.DataFrame | None = None, *, variant: str = "hierarchical",
                   priors: dict[str, float] | None = None, seed: Seed = 0,
                   sigma_prior: str = "half_normal") -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Every parameter of ``variant`` drawn from its program's prior, then y from them at the
    design's predictors: one draw of the joint model, for simulation-based calibration.

    The priors are those of ``fit(variant=variant, priors=priors, sigma_prior=sigma_prior)``
    (see :data:`PRIORS` and the module notes). With the defaults the data are ordinary (y of
    the order of tens); note that a draw of tau near 0 leaves the groups' w nearly equal.

    Parameters
    ----------
    data
        The design (default: :func:`load_data`): columns ``group`` and ``x1``, ``x2``, ...
        Its ``y`` is replaced; the frame passed in is not modified.
    variant
        Any of :data:`VARIANTS`.
    priors
        Overrides of the variant's entries in :data:`PRIORS`, as in :func:`stan_data`.
    seed
        Seed of ``numpy.random.default_rng`` (or a Generator): the same seed, the same output.
    sigma_prior
        ``"half_normal"`` or ``"inv_gamma"``, the noise sd's prior, as in :func:`stan_data`
        (the fit must be given the same).

    Returns
    -------
    data : pandas.DataFrame
        The design with ``y`` simulated.
    truth : dict of numpy.ndarray
        Every user-facing variable of the variant's posterior, shaped as in it (groups in the
        fit's order).
    """
    supported_variant(FAMILY, variant, VARIANTS, tuple(_PRIOR_DRAWS))
    check_choice("multigroup sigma prior", sigma_prior, SIGMA_PRIORS)
    scales = prior_scales(PRIORS[variant], priors)
    frame = design_frame(data, load_data, "y", "multigroup design")
    # the design checked as fit checks it; its predictors and group codes
    prepared = stan_data(frame, variant=variant, priors=scales, sigma_prior=sigma_prior,
                         parameterization="centered" if variant == "hierarchical" else None).data
    X, group = prepared["X"], prepared["group"] - 1
    rng = generator(seed)
    draw, names = _PRIOR_DRAWS[variant]
    truth = draw(rng, scales, prepared["G"], prepared["m"])
    truth["sigma"] = _prior_sigma(rng, scales, sigma_prior)
    w_rows = np.broadcast_to(truth["w"], X.shape) if variant == "pooled" else truth["w"][group]
    frame["y"] = _draw_outcome(rng, X, w_rows, truth["sigma"])
    return frame, as_truth(truth, names)


def recovery_plot(fits: dict[str, az.InferenceData], true_w: pd.DataFrame, figure: Figure) -> Figure:
    """One column per group. Top: true w and each variant's 90% posterior interval. Bottom: the
    same intervals minus the truth, for the variants with a w per group (at the top's scale their
    intervals are too narrow to see)."""
    axes = figure.subplots(2, len(true_w), sharey="row", squeeze=False)
    positions = np.arange(true_w.shape[1])
    offsets = np.linspace(-0.2, 0.2, len(fits))
    for column, label in enumerate(true_w.index):
        top, bottom = axes[:, column]
        for i, (variant, idata) in enumerate(fits.items()):
            w = idata.posterior["w"]
            dim = idata.posterior.attrs["group_dim"]
            per_group = dim in w.dims  # the pooled w belongs to every group alike
            w = w.sel({dim: label}) if per_group else w
            low, high = w.quantile([0.05, 0.95], dim=("chain", "draw")).values
            mean = w.mean(dim=("chain", "draw")).values
            style = {"fmt": "o", "ms": 3, "capsize": 3, "color": f"C{i}", "label": f"{variant} (90%)"}
            top.errorbar(positions + offsets[i], mean, yerr=[mean - low, high - mean], **style)
            if per_group:
                error = mean - true_w.loc[label].to_numpy()
                bottom.errorbar(positions + offsets[i], error, yerr=[mean - low, high - mean], **style)
        top.scatter(positions, true_w.loc[label], marker="_", s=400, color="black", label="true w")
        bottom.axhline(0.0, color="black", lw=1)
        top.set(xticks=positions, xticklabels=[], title=f"group {label}")
        bottom.set(xticks=positions, xticklabels=true_w.columns, xlabel="coefficient")
    axes[0, 0].set_ylabel("w")
    axes[1, 0].set_ylabel("w - true w")
    axes[0, 0].legend(loc="best", fontsize="small")
    return figure


def _predict(idata: az.InferenceData, newdata: pd.DataFrame, rng: np.random.Generator) -> Prediction:
    """y ~ normal(x' w_group, sigma); a new group's w ~ multi_normal(mu_w, diag(tau) Omega diag(tau)),
    or for ``separate`` its prior, normal(0, w_scale) per coefficient."""
    post = idata.posterior
    variant = post.attrs["variant"]
    group, predictors = data_column(idata, "group"), data_column(idata, "predictors").split(",")
    require_columns(newdata, [group, *predictors], "new data")
    X = np.column_stack([numeric_column(newdata, c, "new data") for c in predictors])

    def new(unseen: list[str]) -> dict[str, np.ndarray]:
        mu, tau = draws_of(post["mu_w"], "coefficient"), draws_of(post["tau"], "coefficient")
        L = draws_of(post["L_Omega"], "coefficient", "coefficient2")
        z = rng.standard_normal((len(mu), len(unseen), len(predictors)))
        return {"w": mu[:, None] + tau[:, None] * np.einsum("sij,sgj->sgi", L, z)}

    def from_prior(unseen: list[str]) -> dict[str, np.ndarray]:
        # separate: other groups say nothing about this one; its posterior is its prior
        scale = float(idata.constant_data["w_scale"].values.item())
        samples = post.sizes["chain"] * post.sizes["draw"]
        return {"w": scale * rng.standard_normal((samples, len(unseen), len(predictors)))}

    if variant == "pooled":
        linear = draws_of(post["w"], "coefficient") @ X.T
    else:
        w = group_draws(idata, newdata[group], ["w"], new if variant == "hierarchical" else from_prior)["w"]
        linear = np.einsum("srm,rm->sr", w, X)
    return Prediction.normal(linear, draws_of(post["sigma"])[:, None])


family = Family(name=FAMILY, description=DESCRIPTION, prepare=stan_data, load_data=load_data,
                variants=VARIANTS, parameterizations=PARAMETERIZATIONS, priors=PRIORS,
                columns={"outcome": "y", "group": "group", "predictors": "x1, x2, ..."},
                simulate=simulate, simulate_prior=simulate_prior, predict=_predict)
fit = family.fit
