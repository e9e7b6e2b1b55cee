"""Your own hierarchical regression (docs/models.md §7): an lme4 formula on one precompiled program.

``hierstan.glmm.fit(df, formula="y ~ x + (1 + x | g) + (1 | h)", likelihood="gaussian")``. The
formula is parsed by ``formulae`` (``hierstan.formula``); its fixed-effects matrix, its group
terms (each ``( ... | factor)`` a block of correlated effects), each level's parameterization and
the priors are data of ``stan_models/glmm.stan``, so a new formula never compiles.

Speed: rows with the same design (fixed effects, offset, group levels and term values) are one
cell of the likelihood: their count, mean and squared deviations (gaussian), their summed count
(poisson) or their successes and trials (binomial), as a family program's sufficient statistics.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
from scipy import special

from ..errors import DataError, check_choice
from ..family import Family
from ..formula import Design, evaluate, parse
from ..parameterization import choose, describe, group_regression
from ..post_estimation import Prediction, draws_of
from ..prior_draws import Seed, generator, half_cauchy, half_normal, lkj_corr, supported_variant
from ..programs import data_file
from ..stan_data import StanData
from ..validation import _rows, numeric_column, prior_scales, require_columns, require_frame, row_labels

FAMILY = "glmm"
DESCRIPTION = "Your own hierarchical regression: an lme4 formula, gaussian/logistic/count likelihoods"
#: The variants ``fit`` takes (``variant=``), the default first.
VARIANTS = ("formula",)
LIKELIHOODS = ("gaussian", "bernoulli", "binomial", "poisson", "negative_binomial")
PARAMETERIZATIONS = ("auto", "centered", "noncentered")
# Multipliers of the data's scales (rstanarm's autoscaling, docs/models.md §7): with s_y the
# outcome's sd (gaussian) or 1 (other likelihoods) and s_k column k's sd,
#   intercept ~ normal(mean(y) (gaussian) or 0, intercept_scale s_y)
#   coefficient k ~ normal(0, coef_scale s_y / s_k)
#   each group term's sd ~ exponential with mean sd_scale s_y (/ s_k for a term on column k)
#   correlations ~ LKJ(lkj_eta); sigma ~ exponential, mean sigma_scale s_y;
#   negative binomial's phi ~ exponential, mean phi_scale
#: Default prior settings, overridden by ``priors=`` (Stan data: no recompile).
PRIORS = {"intercept_scale": 2.5, "coef_scale": 2.5, "sd_scale": 1.0, "lkj_eta": 1.0,
          "sigma_scale": 1.0, "phi_scale": 1.0}
# the settings of ``priors`` that are choices, not scales: ``autoscale`` 1 or 0 (above, or every
# setting absolute) and ``scale_prior``, the form of the group sds' and sigma's priors
# (exponential with mean the setting, or half-normal / half-Cauchy with scale the setting)
#: The settings of ``priors=`` that choose a form rather than set a scale.
PRIOR_CHOICES = ("autoscale", "scale_prior")
#: The forms ``scale_prior`` can take for the group sds' and sigma's priors.
SCALE_PRIORS = ("exponential", "half_normal", "half_cauchy")
OBSERVATION = "observation"


# the default data are radon's (docs/models.md §2), with its varying-intercept-and-slope model
#: The formula fitted to the shipped data when none is given.
DEFAULT_FORMULA = "log_radon ~ floor + (1 + floor | county)"


def load_data() -> pd.DataFrame:
    """The default data: the radon houses (data/radon.csv), for :data:`DEFAULT_FORMULA`."""
    return pd.read_csv(data_file("radon.csv"))


def stan_data(
    data: pd.DataFrame | None = None,
    *,
    variant: str = "formula",
    formula: str | None = None,
    likelihood: str = "gaussian",
    trials: str | None = None,
    parameterization: str = "auto",
    priors: dict[str, float] | None = None,
) -> StanData:
    """Validate ``data`` against ``formula`` and turn both into the program's data.

    Parameters
    ----------
    variant
        ``"formula"``, the one variant: the formula says the rest.
    formula
        lme4 syntax (``hierstan.formula``): ``y ~ x + C(p) + (1 + x | g) + (1 | g:h) + offset(o)``.
    likelihood
        ``"gaussian"`` (identity link), ``"bernoulli"`` (0/1 outcome) or ``"binomial"``
        (successes of ``trials``, a column) with the logit link, ``"poisson"`` or
        ``"negative_binomial"`` (counts) with the log link.
    parameterization
        ``"auto"`` (each level's form from the data: hierstan.parameterization, from per-level
        least-squares fits of the pooled model's working residuals), ``"centered"`` or
        ``"noncentered"``.
    priors
        Overrides of :data:`PRIORS`.
    """
    what = "glmm data"
    check_choice("glmm variant", variant, VARIANTS)
    check_choice("glmm likelihood", likelihood, LIKELIHOODS)
    check_choice("parameterization", parameterization, PARAMETERIZATIONS)
    df = load_data() if data is None else require_frame(data, what)
    formula = _default_formula(df, what) if formula is None else formula
    design = parse(formula, df, what)
    y, n = _outcome(df, design, likelihood, trials, what)
    _refuse_degenerate(design, likelihood, what)
    settings, location, scale_y, choices = _priors(priors, likelihood, y)
    intercept = "Intercept" in design.fixed
    X = design.X[:, 1:] if intercept else design.X
    x_mean = X.mean(axis=0) if intercept else np.zeros(X.shape[1])
    Z = np.column_stack([np.zeros((len(y), 0))] + [b.values for b in design.blocks])
    levels = np.column_stack([np.zeros((len(y), 0), int)] + [b.codes for b in design.blocks])
    pilot = _pilot(design, likelihood, y, n)
    centered, choice = _centering(parameterization, design, pilot)
    cells = _cells(likelihood, X - x_mean, design.offset, Z, levels, y, n)
    data_dict = {
        "N": len(cells["weight"]), "likelihood": LIKELIHOODS.index(likelihood) + 1,
        "has_intercept": int(intercept), "K": X.shape[1], "X": cells["X"], "X_mean": x_mean,
        "offsets": cells["offset"], "weight": cells["weight"], "y_mean": cells["y_mean"],
        "y_ss": cells["y_ss"], "y_count": cells["y_count"], "trials": cells["trials"],
        "B": len(design.blocks), "J": [len(b.levels) for b in design.blocks],
        "P": [len(b.terms) for b in design.blocks], "Z": cells["Z"], "level": cells["level"] + 1,
        "centered": centered,
        "term_fixed": _term_fixed(design, pilot), "level_centre": _level_centres(design),
        "intercept_location": location,
        "intercept_scale": settings["intercept_scale"] * scale_y,
        "intercept_at_zero": 1 - choices["autoscale"], "scale_prior": choices["scale_prior"],
        "coef_scale": settings["coef_scale"] * scale_y / _spread(X, autoscale=choices["autoscale"]),
        "sd_scale": np.concatenate([settings["sd_scale"] * scale_y
                                    / _spread(b.values, ones=True, autoscale=choices["autoscale"])
                                    for b in design.blocks]) if design.blocks else np.zeros(0),
        "lkj_eta": settings["lkj_eta"], "sigma_scale": settings["sigma_scale"] * scale_y,
        "phi_scale": settings["phi_scale"], "prior_only": 0,
        # the rows, for the program's pointwise output (pointwise = 1 checks predict's numpy)
        "pointwise": 0, "R": len(y), "row_cell": cells["row_cell"],
        "y_row": y if likelihood == "gaussian" else np.zeros(0),
        "y_row_count": np.zeros(0, int) if likelihood == "gaussian" else y.round().astype(int),
        "row_trials": n.round().astype(int) if likelihood in ("bernoulli", "binomial") else np.zeros(0, int),
    }
    coords, dims = _labels(design, df, what)
    # each row's level of every factor, 0-based, as the families keep their group index
    index = {f"{b.factor}_index": b.codes for b in {b.factor: b for b in design.blocks}.values()}
    dims.update({name: [OBSERVATION] for name in index})
    return StanData(
        program="glmm",
        data=data_dict,
        outcome=design.response,
        observed=y,
        coords=coords,
        dims=dims,
        constant=index,
        attrs={"family": FAMILY, "variant": "formula", "formula": design.formula,
               "group_dim": design.factors[0] if design.factors else None,
               "group_index": f"{design.factors[0]}_index" if design.factors else None,
               "likelihood": likelihood, "categories": json.dumps(design.categories, default=str),
               "parameterization": parameterization, "parameterization_choice": choice,
               **({"column_trials": trials} if trials else {})},
        rows=df[list(design.columns) + ([trials] if trials else [])].copy(),
        adapt_delta=0.9,
        regroup=partial(_regroup, design=design),
        predict=_predict,
    )


def _term_fixed(design: Design, pilot: list) -> list[int]:
    """For each block's term, the fixed effect (1-based in b) its centered levels are centered on:
    the fixed effect of the same column, in one block only (centering two crossed factors' levels
    on one intercept leaves their sum free but for the prior). Of the blocks with the term, the
    one whose levels move least together: the other blocks' effects have means known only to
    sd^2 / J each (S, summed), which the owner's J levels share beside their own sampling
    variance v, so its levels correlate by S / (S + v) and J of them form one slow direction
    worth J S / (S + v) (with crossed factors of 500, 500 and 8 levels, the 8)."""
    def spread(b: int, t: int) -> float:  # the pilot's sd^2 / J for block b's term t
        scale = pilot[b][0][t].scale
        return scale**2 / len(design.blocks[b].levels) if np.isfinite(scale) else 0.0

    def cost(holder: tuple[int, int], holders: list[tuple[int, int]]) -> tuple[float, int]:
        c, u = holder
        shared = sum(spread(d, w) for d, w in holders if d != c)
        variances = pilot[c][1][:, u]
        known = variances[np.isfinite(variances)]
        v = float(np.median(known)) if len(known) else np.inf
        together = shared / (shared + v) if np.isfinite(v) and shared + v > 0 else 1.0
        return len(design.blocks[c].levels) * together, len(design.blocks[c].levels)

    found = []
    for b, block in enumerate(design.blocks):
        for term in block.terms:
            holders = [(c, other.terms.index(term)) for c, other in enumerate(design.blocks)
                       if term in other.terms]
            owner = min(holders, key=partial(cost, holders=holders))[0] if term in design.fixed else -1
            found.append(design.fixed.index(term) + 1 if owner == b else 0)
    return found


def _level_centres(design: Design) -> np.ndarray:
    """Per level of a two-term block led by the intercept, its rows' mean of the second term's
    values (the program samples the level's non-centered effects about it); 0 elsewhere."""
    found = []
    for block in design.blocks:
        centre = np.zeros(len(block.levels))
        if len(block.terms) == 2 and block.terms[0] == "Intercept":
            rows = np.bincount(block.codes, minlength=len(block.levels))
            centre = np.bincount(block.codes, weights=block.values[:, 1], minlength=len(block.levels)) / rows
        found.append(centre)
    return np.concatenate([np.zeros(0)] + found)


def _default_formula(df: pd.DataFrame, what: str) -> str:
    """:data:`DEFAULT_FORMULA` where the data have its columns (the shipped data, or a design
    made from them), else the request for a formula."""
    if {"log_radon", "floor", "county"} <= set(df.columns):
        return DEFAULT_FORMULA
    raise DataError(f"{what}: give a formula (formula='y ~ x + (1 | g)'); the default, "
                    f"{DEFAULT_FORMULA!r}, is for the shipped radon data")


def _priors(priors: dict[str, Any] | None, likelihood: str,
            y: np.ndarray) -> tuple[dict[str, float], float, float, dict[str, int]]:
    """The prior multipliers, the outcome's location and scale they apply to, and the choices
    that are not scales (:data:`PRIOR_CHOICES`). By default the location and scale are the data's
    mean and sd (gaussian) or 0 and 1; ``outcome_location`` and ``outcome_scale`` in ``priors``
    fix them (priors that must not move with the outcome: calibration); ``autoscale=0`` makes
    every setting absolute (location 0, no division by the outcome's or the columns' sds, the
    intercept's prior at X = 0), as a hand-written program's priors are."""
    given = dict(priors or {}) if isinstance(priors, Mapping) else priors
    outcome: dict[str, Any] = {}
    choices = {"autoscale": 1, "scale_prior": SCALE_PRIORS[0]}
    if isinstance(given, dict):
        known = [*PRIORS, *PRIOR_CHOICES, "outcome_location", "outcome_scale"]
        unknown = [name for name in given if name not in known]
        if unknown:
            raise DataError(f"unknown prior setting {unknown[0]!r}; glmm takes {', '.join(known)}")
        outcome = {name: given.pop(name) for name in ("outcome_location", "outcome_scale") if name in given}
        choices.update({name: given.pop(name) for name in PRIOR_CHOICES if name in given})
    if choices["autoscale"] not in (0, 1) or isinstance(choices["autoscale"], str):
        raise DataError(f"prior setting 'autoscale' must be 1 (scales relative to the data's) or 0 "
                        f"(absolute), got {choices['autoscale']!r}")
    check_choice("prior setting 'scale_prior'", choices["scale_prior"], SCALE_PRIORS)
    autoscale = bool(choices["autoscale"])
    gaussian = likelihood == "gaussian" and autoscale
    fixed = prior_scales({"outcome_location": float(np.mean(y)) if gaussian else 0.0,
                          "outcome_scale": (float(np.std(y)) or 1.0) if gaussian else 1.0},
                         outcome, locations=("outcome_location",))
    return (prior_scales(PRIORS, given), fixed["outcome_location"], fixed["outcome_scale"],
            {"autoscale": int(autoscale), "scale_prior": SCALE_PRIORS.index(choices["scale_prior"]) + 1})


def _outcome(df: pd.DataFrame, design: Design, likelihood: str, trials: str | None,
             what: str) -> tuple[np.ndarray, np.ndarray]:
    """The outcome and, for binomial, the trials; checked for what the likelihood allows."""
    y = design.y
    rows = df.index
    if (trials is not None) != (likelihood == "binomial"):
        raise DataError(f"{what}: trials= names the column of trials for likelihood='binomial' "
                        "and is given with it only")
    if likelihood == "gaussian":
        return y, np.ones(len(y))
    bad = rows[(y < 0) | (y != np.round(y))]
    if len(bad):
        raise DataError(f"{what}: likelihood {likelihood!r} needs counts (integers >= 0) in "
                        f"{design.response!r}; row(s) {_rows(bad)} are not")
    n = np.ones(len(y))
    if likelihood == "bernoulli":
        bad = rows[y > 1]
        if len(bad):
            raise DataError(f"{what}: likelihood 'bernoulli' needs 0 or 1 in {design.response!r}; "
                            f"row(s) {_rows(bad)} are not (binomial counts? "
                            "likelihood='binomial', trials=...)")
    if likelihood == "binomial":
        require_columns(df, [trials], what)
        n = numeric_column(df, trials, what)
        bad = rows[(n != np.round(n)) | (n < y)]
        if len(bad):
            raise DataError(f"{what}: trials column {trials!r} must hold integers at least "
                            f"{design.response!r}; row(s) {_rows(bad)} are not")
    return y, n


def _refuse_degenerate(design: Design, likelihood: str, what: str) -> None:
    """A constant or collinear fixed-effect column, or a factor that cannot have a spread."""
    X = design.X
    rank = 0
    for k, label in enumerate(design.fixed):
        if label != "Intercept" and np.ptp(X[:, k]) == 0:
            raise DataError(f"{what}: term {label!r} is constant over the rows; drop it")
        if np.linalg.matrix_rank(X[:, :k + 1]) == rank:
            raise DataError(f"{what}: term {label!r} is a linear combination of the terms before it "
                            f"({', '.join(design.fixed[:k])}); drop one of them")
        rank += 1
    for block in design.blocks:
        if len(block.levels) < 2:
            raise DataError(f"{what}: grouping factor {block.factor!r} must hold at least 2 levels to "
                            f"estimate the spread between them, got 1 ({block.levels[0]})")
        if likelihood == "gaussian" and len(block.levels) == len(design.y):
            raise DataError(f"{what}: grouping factor {block.factor!r} has a level per row; with a "
                            "gaussian outcome its effects cannot be told from the residual")


def _spread(values: np.ndarray, ones: bool = False, autoscale: bool = True) -> np.ndarray:
    """Each column's sd (1 for a constant column: an intercept term's scale is the outcome's;
    1 for every column when the prior settings are absolute)."""
    if not autoscale:
        return np.ones(values.shape[1])
    sd = values.std(axis=0)
    return np.where(sd > 0, sd, 1.0) if ones else sd


def _cells(likelihood: str, X, offset, Z, levels, y, n) -> dict[str, np.ndarray]:
    """Rows with the same design merged into cells (not for the negative binomial, whose
    likelihood does not add up over rows)."""
    design = np.column_stack([X, offset, Z, levels])
    if likelihood == "negative_binomial":
        inverse, first = np.arange(len(y)), np.arange(len(y))
    else:
        _, first, inverse = np.unique(design, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
    cells = len(first)
    weight = np.bincount(inverse, minlength=cells).astype(float)
    out = {"X": X[first], "offset": offset[first], "Z": Z[first], "level": levels[first],
           "weight": weight, "y_mean": np.zeros(0), "y_ss": np.zeros(0),
           "y_count": np.zeros(0, int), "trials": np.zeros(0, int), "row_cell": inverse + 1}
    if likelihood == "gaussian":
        mean = np.bincount(inverse, weights=y, minlength=cells) / weight
        out["y_mean"] = mean
        squares = np.bincount(inverse, weights=(y - mean[inverse]) ** 2, minlength=cells)
        out["y_ss"] = np.clip(squares, 0, None)
    else:
        out["y_count"] = np.bincount(inverse, weights=y, minlength=cells).round().astype(int)
        if likelihood in ("bernoulli", "binomial"):
            out["trials"] = np.bincount(inverse, weights=n, minlength=cells).round().astype(int)
    return out


def _pilot(design: Design, likelihood: str, y: np.ndarray, n: np.ndarray) -> list[tuple[list, np.ndarray]]:
    """Per block: each term's choice by the rule of hierstan.parameterization (its pilot sd and
    the levels it centers), from per-level weighted least squares of the pooled model's working
    residuals, and the levels' sampling variances (levels x terms)."""
    residual, weight = _working_residuals(design, likelihood, y, n)
    root = np.sqrt(weight)
    found = []
    for block in design.blocks:
        coef, variance, noise = group_regression(residual * root, block.values * root[:, None],
                                                 block.codes, len(block.levels))
        if likelihood != "gaussian" and np.isfinite(noise) and noise > 0:
            variance = variance / noise  # the working weights already carry the variance
        found.append(([choose(f"r_{block.factor}[{term}]", f"sd_{block.factor}[{term}]", coef[:, t],
                              variance[:, t]) for t, term in enumerate(block.terms)], variance))
    return found


def _centering(parameterization: str, design: Design, pilot: list) -> tuple[list[int], str]:
    """Each level's number of centered terms, block by block: all or none (forced), or the
    pilot's choice term by term, counting the leading terms centered."""
    if parameterization != "auto":
        return [len(b.terms) * (parameterization == "centered") for b in design.blocks for _ in b.levels], ""
    flags, texts = [], []
    for block, (found, _) in zip(design.blocks, pilot):
        # a level's centered terms must lead its block (the program conditions the others on them)
        leading = np.cumprod([choice.centered for choice in found], axis=0).sum(axis=0)
        counts = ", ".join(f"{np.sum(leading == k)} with {k}" for k in range(len(found) + 1)
                           if np.any(leading == k))
        texts.append((f"{block.factor}: levels by their number of leading centered terms: {counts}; "
                      if len(found) > 1 else "") + describe(found, block.factor))
        flags += leading.astype(int).tolist()
    return flags, "; ".join(texts)


def _working_residuals(design: Design, likelihood: str, y: np.ndarray,
                       n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pooled (no group effects) fit's working residuals and weights: least squares for the
    gaussian, a few iteratively reweighted least-squares steps for the others."""
    X, offset = design.X, design.offset
    if likelihood == "gaussian":
        beta = np.linalg.lstsq(X, y - offset, rcond=None)[0] if X.shape[1] else np.zeros(0)
        return y - offset - X @ beta, np.ones(len(y))
    logit = likelihood in ("bernoulli", "binomial")
    # eta: the linear predictor without the offset; start from the pooled rate
    if logit:
        rate = (y.sum() + 0.5) / (n.sum() + 1.0)
        eta = np.full(len(y), np.log(rate / (1 - rate)))
    else:
        eta = np.full(len(y), np.log((y.sum() + 0.5) / np.exp(offset).sum()))
    for _ in range(50):
        if logit:
            p = 1 / (1 + np.exp(-(eta + offset)))
            weight = np.clip(n * p * (1 - p), 1e-8, None)
            residual = (y - n * p) / weight
        else:
            mu = np.exp(eta + offset)
            weight = np.clip(mu, 1e-8, None)
            residual = (y - mu) / weight
        if not X.shape[1]:
            break
        root = np.sqrt(weight)
        new = X @ np.linalg.lstsq(X * root[:, None], (eta + residual) * root, rcond=None)[0]
        done = np.max(np.abs(new - eta)) < 1e-8
        eta = new
        if done:
            break
    return residual, weight


def _labels(design: Design, df: pd.DataFrame, what: str) -> tuple[dict, dict]:
    coords: dict[str, list] = {"coef": list(design.fixed), OBSERVATION: row_labels(df)}
    dims: dict[str, list[str]] = {"b": ["coef"], design.response: [OBSERVATION]}
    for factor in design.factors:
        if factor in (OBSERVATION, "coef", "chain", "draw"):
            raise DataError(f"{what}: grouping factor {factor!r} is named like a dimension of the "
                            "fit; rename the column")
        blocks = [b for b in design.blocks if b.factor == factor]
        terms = [term for b in blocks for term in b.terms]
        coords[factor] = list(blocks[0].levels)
        coords[f"{factor}_term"] = terms
        dims[f"r_{factor}"] = [factor, f"{factor}_term"]
        dims[f"sd_{factor}"] = [f"{factor}_term"]
        if any(len(b.terms) > 1 for b in blocks):
            coords[f"{factor}_term2"] = terms
            dims[f"corr_{factor}"] = [f"{factor}_term", f"{factor}_term2"]
    return coords, dims


def simulate_prior(data: pd.DataFrame | None = None, *, variant: str = "formula",
                   formula: str | None = None, likelihood: str = "gaussian", trials: str | None = None,
                   priors: dict[str, float] | None = None,
                   seed: Seed = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Parameters drawn from the program's prior at the design ``data`` (default: the shipped
    data and formula), then the outcome from them: one draw of the joint model, for
    simulation-based calibration. The autoscaled priors are those ``fit`` would use on ``data``;
    calibration should fix ``outcome_location`` and ``outcome_scale`` in ``priors`` so that the
    fits of the simulated outcomes keep the same priors. Returns the design with its outcome
    replaced, and the truth under the posterior's names (b, sigma or phi, r_<f>, sd_<f>, corr_<f>)."""
    supported_variant(FAMILY, variant, VARIANTS, VARIANTS)
    frame = load_data() if data is None else require_frame(data, "glmm design").copy()
    formula = _default_formula(frame, "glmm design") if formula is None else formula
    d = stan_data(frame, formula=formula, likelihood=likelihood, trials=trials, priors=priors,
                  parameterization="noncentered").data
    design = parse(formula, frame, "glmm design")
    rng = generator(seed)
    alpha = rng.normal(d["intercept_location"], d["intercept_scale"]) if d["has_intercept"] else 0.0
    beta = rng.normal(0.0, d["coef_scale"])
    # the prior is on the intercept at X = 0 or at the columns' means
    shift = 0.0 if d["intercept_at_zero"] else d["X_mean"] @ beta
    b = np.concatenate([[alpha - shift] if d["has_intercept"] else [], beta])
    scale_draw = partial(_scale_draw, rng, SCALE_PRIORS[d["scale_prior"] - 1])
    eta = design.X @ b + design.offset
    tau = scale_draw(d["sd_scale"])
    truth: dict[str, Any] = {"b": b}
    at = 0
    parts: dict[str, list] = {}
    for block in design.blocks:
        p = len(block.terms)
        corr = lkj_corr(rng, d["lkj_eta"], p) if p > 1 else np.eye(1)
        sd = tau[at:at + p]
        effects = rng.multivariate_normal(np.zeros(p), corr * np.outer(sd, sd), len(block.levels),
                                          method="cholesky")
        eta = eta + (effects[block.codes] * block.values).sum(axis=1)
        parts.setdefault(block.factor, []).append((effects, sd, corr))
        at += p
    for factor, found in parts.items():
        truth[f"r_{factor}"] = np.concatenate([e for e, _, _ in found], axis=1)
        truth[f"sd_{factor}"] = np.concatenate([s for _, s, _ in found])
        if any(c.shape[0] > 1 for _, _, c in found):
            truth[f"corr_{factor}"] = _block_diagonal([c for _, _, c in found])
    y = design.y.copy()
    if likelihood == "gaussian":
        truth["sigma"] = scale_draw(d["sigma_scale"])
        y = rng.normal(eta, truth["sigma"])
    elif likelihood in ("bernoulli", "binomial"):
        n = frame[trials].to_numpy(int) if likelihood == "binomial" else np.ones(len(y), int)
        y = rng.binomial(n, special.expit(eta))
    elif likelihood == "poisson":
        y = rng.poisson(np.exp(np.minimum(eta, 20)))
    else:
        truth["phi"] = rng.exponential(d["phi_scale"])
        mean = np.exp(np.minimum(eta, 20))
        y = rng.negative_binomial(truth["phi"], truth["phi"] / (truth["phi"] + mean))
    frame[design.response] = y
    # in the posterior's order (:func:`_regroup`)
    order = ["b", "sigma", "phi"] + [f"{kind}_{f}" for f in parts for kind in ("r", "sd", "corr")]
    return frame, {name: np.asarray(truth[name], dtype=float) for name in order if name in truth}


def _scale_draw(rng: np.random.Generator, form: str, scale):
    """A draw of each sd's prior (:data:`SCALE_PRIORS`)."""
    if form == "exponential":
        return rng.exponential(scale)
    return (half_normal if form == "half_normal" else half_cauchy)(rng, scale, np.shape(scale))


def _block_diagonal(blocks: list[np.ndarray]) -> np.ndarray:
    """Square blocks (..., p, p), any leading dims alike, on one diagonal (0 between them)."""
    size = sum(b.shape[-1] for b in blocks)
    out, at = np.zeros((*blocks[0].shape[:-2], size, size)), 0
    for block in blocks:
        p = block.shape[-1]
        out[..., at:at + p, at:at + p] = block
        at += p
    return out


def _predict(idata: az.InferenceData, newdata: pd.DataFrame, rng: np.random.Generator) -> Prediction:
    """The linear predictor of new rows from the fixed effects, the offset and each grouping
    factor's effects (a level the fit has not seen gets, draw by draw, effects drawn from the
    population: jointly normal with the factor's sds and correlations); the outcome by the fit's
    likelihood."""
    post = idata.posterior
    attrs = post.attrs
    design = evaluate(str(attrs["formula"]), json.loads(str(attrs["categories"])), newdata, "new data")
    coef = [str(label) for label in post["coef"].values]
    X = design.X[:, [design.fixed.index(label) for label in coef]]
    eta = draws_of(post["b"], "coef") @ X.T + design.offset
    for factor in design.factors:
        blocks = [b for b in design.blocks if b.factor == factor]
        terms = [t for b in blocks for t in b.terms]
        if terms != [str(t) for t in post[f"{factor}_term"].values]:
            raise DataError(f"new data: the terms of {factor!r} code as {terms}, the fit's as "
                            f"{list(post[f'{factor}_term'].values)}")
        labels = np.array(blocks[0].levels)[blocks[0].codes]
        effects = draws_of(post[f"r_{factor}"], factor, f"{factor}_term")
        known = {str(level): j for j, level in enumerate(post[factor].values)}
        unseen = list(dict.fromkeys(label for label in labels if label not in known))
        if unseen:
            sd = draws_of(post[f"sd_{factor}"], f"{factor}_term")
            corr = (draws_of(post[f"corr_{factor}"], f"{factor}_term", f"{factor}_term2")
                    if f"corr_{factor}" in post else np.eye(len(terms)))
            chol = np.linalg.cholesky(corr * sd[:, :, None] * sd[:, None, :] + 1e-12 * np.eye(len(terms)))
            fresh = np.einsum("sij,snj->sni", chol, rng.standard_normal((len(sd), len(unseen), len(terms))))
            effects = np.concatenate([effects, fresh], axis=1)
            known.update({label: len(post[factor]) + i for i, label in enumerate(unseen)})
        index = np.array([known[label] for label in labels], dtype=int)
        values = np.column_stack([b.values for b in blocks])
        for t in range(len(terms)):
            eta += effects[:, index, t] * values[:, t]
    likelihood = str(attrs["likelihood"])
    if likelihood == "gaussian":
        return Prediction.normal(eta, draws_of(post["sigma"])[:, None])
    if likelihood in ("bernoulli", "binomial"):
        trials = (numeric_column(newdata, str(attrs["column_trials"]), "new data")
                  if likelihood == "binomial" else np.ones(len(newdata)))
        return Prediction(
            linear=eta, mean=lambda e: trials * special.expit(e),
            draw=lambda g, e: g.binomial(trials.astype(int), special.expit(e)).astype(float),
            log_density=lambda y, e: (y * special.log_expit(e) + (trials - y) * special.log_expit(-e)
                                      + special.gammaln(trials + 1) - special.gammaln(y + 1)
                                      - special.gammaln(trials - y + 1)))
    if likelihood == "poisson":
        return Prediction(
            linear=eta, mean=np.exp, draw=lambda g, e: g.poisson(np.exp(e)).astype(float),
            log_density=lambda y, e: y * e - np.exp(e) - special.gammaln(y + 1))
    phi = draws_of(post["phi"])[:, None]
    return Prediction(
        linear=eta, mean=np.exp,
        draw=lambda g, e: g.negative_binomial(phi, phi / (phi + np.exp(e))).astype(float),
        log_density=lambda y, e: (special.gammaln(y + phi) - special.gammaln(phi) - special.gammaln(y + 1)
                                  + phi * (np.log(phi) - np.logaddexp(np.log(phi), e))
                                  + y * (e - np.logaddexp(np.log(phi), e))))


def _regroup(variables: dict[str, np.ndarray], design: Design) -> dict[str, np.ndarray]:
    """The program's flat draws (chain, draw, ...) as labelled variables: b, sigma or phi, and per
    grouping factor its levels' effects r_<factor>, sds sd_<factor> and correlations corr_<factor>."""
    out = {"b": variables["b"]}
    for name in ("sigma", "phi"):
        if variables.get(name) is not None and variables[name].shape[-1]:
            out[name] = variables[name][..., 0]
    u, tau = variables["u"], variables["tau"]
    lead = u.shape[:2]
    # a size-0 output (no correlated block) is left out by the engines
    cor = variables.get("cor", np.zeros((*lead, 0)))
    start_u = start_t = start_c = 0
    by_factor: dict[str, list] = {}
    for block in design.blocks:
        j, p = len(block.levels), len(block.terms)
        effects = u[..., start_u:start_u + j * p].reshape(*lead, j, p)
        corr = np.broadcast_to(np.eye(p), (*lead, p, p)).copy()
        rows, cols = np.tril_indices(p, -1)
        # the program writes the lower triangle row by row; numpy's tril_indices runs the same way
        corr[..., rows, cols] = cor[..., start_c:start_c + len(rows)]
        corr[..., cols, rows] = corr[..., rows, cols]
        by_factor.setdefault(block.factor, []).append((effects, tau[..., start_t:start_t + p], corr))
        start_u, start_t, start_c = start_u + j * p, start_t + p, start_c + len(rows)
    for factor, parts in by_factor.items():
        out[f"r_{factor}"] = np.concatenate([e for e, _, _ in parts], axis=-1)
        out[f"sd_{factor}"] = np.concatenate([s for _, s, _ in parts], axis=-1)
        if any(c.shape[-1] > 1 for _, _, c in parts):
            out[f"corr_{factor}"] = _block_diagonal([c for _, _, c in parts])
    return out


family = Family(name=FAMILY, description=DESCRIPTION, prepare=stan_data, load_data=load_data,
                variants=VARIANTS, columns={}, priors=PRIORS,
                parameterizations=PARAMETERIZATIONS, simulate_prior=simulate_prior, predict=_predict)
fit = family.fit
