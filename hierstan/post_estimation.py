"""What every family's fit answers the same way: a table of its groups, and predictions for new rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import norm

from .errors import HierstanError, check_choice
from .inference_data import outcome_name
from .validation import listed, require_frame

# standardised deviates and Cholesky factors: how the sampler moves, not effects users report
INTERNAL_PREFIXES = ("z_", "L_")


def is_internal(name: str) -> bool:
    return name.startswith(INTERNAL_PREFIXES) or name == "z" or name.endswith(("_raw", "_std"))


def group_table(idata: az.InferenceData, prob: float = 0.9, group: str | None = None) -> pd.DataFrame:
    """Per group: rows in the data (``n``), the raw mean of the outcome, and the posterior mean
    and central ``prob`` interval of every group-level effect (one column set per coefficient
    where an effect has several). Groups in the fit's order. ``group``: which grouping factor,
    for a fit with several (glmm); default the fit's first."""
    default = idata.posterior.attrs.get("group_dim")
    if default is None:
        raise HierstanError("group_table needs a fit made by hierstan (its attrs name the group dim)")
    if not 0 < prob < 1:
        raise HierstanError(f"prob must be between 0 and 1, got {prob!r}")
    dim = default if group is None else group
    index_name = idata.posterior.attrs.get("group_index") if dim == default else f"{dim}_index"
    constant = getattr(idata, "constant_data", None)
    if dim != default and (constant is None or index_name not in constant):
        names = constant.data_vars if constant is not None else []
        factors = [default] + [name[:-len("_index")] for name in names
                               if name.endswith("_index") and name[:-len("_index")] != default]
        raise HierstanError(f"group_table: no grouping factor {group!r} in this fit; it has "
                            f"{listed(factors)}")
    labels = idata.posterior[dim].values
    observed = idata.observed_data[outcome_name(idata)].values.astype(float)
    index = (idata.constant_data[index_name].values if index_name else np.arange(len(labels)))
    n = np.bincount(index, minlength=len(labels))
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.bincount(index, weights=observed, minlength=len(labels)) / n
    table = pd.DataFrame({dim: labels, "n": n, "raw_mean": raw})
    low, high = (1 - prob) / 2, (1 + prob) / 2
    names = {"low": f"q{100 * low:02g}", "high": f"q{100 * high:02g}"}
    for name, values in idata.posterior.data_vars.items():
        if dim not in values.dims or is_internal(name):
            continue
        others = [d for d in values.dims if d not in ("chain", "draw", dim)]
        flat = values.stack(column=others) if others else values.expand_dims(column=[None])
        sample = ("chain", "draw")
        summary = {stat: array.transpose(dim, "column").values for stat, array in (
            ("mean", flat.mean(sample)), (names["low"], flat.quantile(low, sample)),
            (names["high"], flat.quantile(high, sample)))}
        for j, key in enumerate(flat["column"].values):
            label = name if key is None else f"{name}[{', '.join(map(str, np.atleast_1d(key)))}]"
            for stat, values_by_group in summary.items():
                table[f"{label}_{stat}"] = values_by_group[:, j]
    return table


# --- prediction ----------------------------------------------------------------------------------

SCALES = ("outcome", "mean", "linear")


@dataclass(frozen=True)
class Prediction:
    """A family's answer for new rows: the linear predictor per posterior draw (samples, rows),
    the outcome's mean given it, a draw of the outcome given it, and the outcome's log density
    (for held-out data: K-fold cross-validation)."""

    linear: np.ndarray
    mean: Callable[[np.ndarray], np.ndarray]
    draw: Callable[[np.random.Generator, np.ndarray], np.ndarray]
    log_density: Callable[[np.ndarray, np.ndarray], np.ndarray]

    @classmethod
    def normal(cls, linear: np.ndarray, scale: np.ndarray) -> Prediction:
        """outcome ~ normal(linear, scale); ``scale`` broadcasts against (samples, rows)."""
        return cls(linear=linear, mean=lambda eta: eta, draw=lambda rng, eta: normal_draws(rng, eta, scale),
                   log_density=lambda y, eta: normal_log_density(y, eta, scale))


# log(sqrt(2 pi)) as scipy.stats.norm computes it
_LOG_SQRT_2PI = np.log(np.sqrt(2 * np.pi))


def normal_log_density(y: np.ndarray, loc: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``scipy.stats.norm.logpdf(y, loc, scale)``, the same bits: scipy's arithmetic in scipy's
    order, in place, without its per-element argument checks (4 times faster on the math test's
    4000 x 1993 draws); scipy itself where a scale is not positive (its nan)."""
    scale = np.asarray(scale, dtype=float)
    if not np.all(scale > 0):
        return norm.logpdf(y, loc, scale)
    x = np.subtract(y, loc, dtype=float)
    x = np.divide(x, scale, out=x if x.shape == np.broadcast_shapes(x.shape, scale.shape) else None)
    np.square(x, out=x)  # scipy: (-x**2 / 2.0 - log(sqrt(2 pi))) - log(scale)
    x *= -0.5  # = -(x**2) / 2.0 exactly: halving and negating commute with rounding
    x -= _LOG_SQRT_2PI
    x -= np.log(scale)
    return x


def normal_draws(rng: np.random.Generator, loc: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``rng.normal(loc, scale)``, the same draws (numpy draws loc + scale * a standard normal,
    element by element in C order), in place."""
    loc = np.asarray(loc, dtype=float)
    scale = np.asarray(scale, dtype=float)
    shape = np.broadcast_shapes(loc.shape, scale.shape)
    if not shape or not np.all(scale > 0):  # numpy's scalar, its error for a negative scale
        return rng.normal(loc, scale)
    draws = rng.standard_normal(shape)
    draws *= scale
    draws += loc
    return draws


def predict(idata: az.InferenceData, newdata: pd.DataFrame, *, scale: str = "outcome",
            seed: int | None = None) -> xr.DataArray:
    """Posterior predictions for the rows of ``newdata``, without refitting.

    ``newdata`` has the columns the fit was given (its group column, predictors, ...; not the
    outcome). A row whose group is in the fit uses that group's effects; a group the fit has not
    seen gets, draw by draw, effects drawn from the population distribution (rows naming the same
    new group share them). ``scale``: ``"outcome"`` (draws of the outcome, e.g. a new house's log
    radon or whether a pupil repeats), ``"mean"`` (its expectation: for Thai the probability of
    repeating) or ``"linear"`` (the linear predictor). Returns (chain, draw, row) draws.
    """
    from .models import get_family

    check_choice("scale", scale, SCALES)
    family = get_family(str(idata.posterior.attrs.get("family", "?")))
    if family.predict is None:
        raise HierstanError(f"{family.name} has no predict")
    frame = require_frame(newdata, "new data")
    rng = np.random.default_rng(seed)
    prediction = family.predict(idata, frame, rng)
    values = {"linear": lambda: prediction.linear, "mean": lambda: prediction.mean(prediction.linear),
              "outcome": lambda: prediction.draw(rng, prediction.linear)}[scale]()
    chains, draws = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]
    return xr.DataArray(np.asarray(values, dtype=float).reshape(chains, draws, len(frame)),
                        dims=("chain", "draw", "row"), coords={"row": frame.index.to_numpy()},
                        name=f"{outcome_name(idata)}_{scale}")


def add_pointwise(idata: az.InferenceData, rows: pd.DataFrame, *, seed: int | None = None,
                  predict: Callable[..., Prediction] | None = None) -> None:
    """Add the pointwise log-likelihood and replicated outcomes of the fitted ``rows`` (the
    log_likelihood, posterior_predictive and, with prior draws, prior_predictive groups),
    computed from the draws in numpy with ``predict`` (default: the family's): cheaper than a
    program writing them (CmdStan writes each value as text), and the same values (tests compare
    them)."""
    if predict is None:
        from .models import get_family

        predict = get_family(str(idata.posterior.attrs["family"])).predict
    outcome = outcome_name(idata)
    observed = idata.observed_data[outcome]
    rng = np.random.default_rng(seed)

    def per_row(values: np.ndarray, draws: xr.Dataset) -> xr.Dataset:
        shape = (draws.sizes["chain"], draws.sizes["draw"], observed.size)
        array = xr.DataArray(np.asarray(values, dtype=float).reshape(shape),
                             dims=("chain", "draw", *observed.dims),
                             coords={"chain": draws["chain"], "draw": draws["draw"], **observed.coords})
        return xr.Dataset({outcome: array})

    groups = {}
    posterior = predict(idata, rows, rng)
    groups["log_likelihood"] = per_row(posterior.log_density(observed.values, posterior.linear),
                                       idata.posterior)
    groups["posterior_predictive"] = per_row(posterior.draw(rng, posterior.linear), idata.posterior)
    if "prior" in idata.groups():
        draws = idata.prior.assign_attrs(idata.posterior.attrs)
        prior = predict(az.InferenceData(posterior=draws), rows, rng)
        groups["prior_predictive"] = per_row(prior.draw(rng, prior.linear), idata.prior)
    idata.add_groups(groups)


def draws_of(values: xr.DataArray, *dims: str) -> np.ndarray:
    """(chain, draw, ...) draws flattened to (samples, dims...)."""
    array = values.transpose("chain", "draw", *dims, ...).values
    return array.reshape(-1, *array.shape[2:])


def data_column(idata: az.InferenceData, role: str) -> str:
    """The name the fit's data gave the column of ``role`` (outcome, group, predictor, ...)."""
    return str(idata.posterior.attrs[f"column_{role}"])


def group_draws(idata: az.InferenceData, labels: pd.Series, names: list[str],
                new: Callable[[list[str]], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Draws (samples, rows, ...) of the group-level effects ``names`` for each row's group.

    Groups of the fit keep their draws; ``new(unseen)`` draws each unseen group's effects from
    the population (or, where the variant has none, their prior), (samples, len(unseen), ...)
    per name."""
    post = idata.posterior
    if not names:  # a variant with no group-level effect (pooled): every row shares the same draws
        return {}
    dim = post.attrs["group_dim"]
    position = {str(label): i for i, label in enumerate(post[dim].values)}
    labels = [str(label) for label in labels]
    unseen = list(dict.fromkeys(label for label in labels if label not in position))
    extra = new(unseen) if unseen else {}
    slot = {**position, **{label: len(position) + i for i, label in enumerate(unseen)}}
    index = np.array([slot[label] for label in labels], dtype=int)
    found = {}
    for name in names:
        own = draws_of(post[name], dim)
        found[name] = (np.concatenate([own, extra[name]], axis=1) if unseen else own)[:, index]
    return found
