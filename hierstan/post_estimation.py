"""What every family's fit answers the same way: one row per group."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd

from .errors import HierstanError
from .inference_data import outcome_name

# standardised deviates and Cholesky factors: how the sampler moves, not effects users report
INTERNAL_PREFIXES = ("z_", "L_")


def is_internal(name: str) -> bool:
    return name.startswith(INTERNAL_PREFIXES) or name == "z" or name.endswith(("_raw", "_std"))


def group_table(idata: az.InferenceData, prob: float = 0.9) -> pd.DataFrame:
    """Per group: rows in the data (``n``), the raw mean of the outcome, and the posterior mean
    and central ``prob`` interval of every group-level effect (one column set per coefficient
    where an effect has several). Groups in the fit's order."""
    dim = idata.posterior.attrs.get("group_dim")
    if dim is None:
        raise HierstanError("group_table needs a fit made by hierstan (its attrs name the group dim)")
    if not 0 < prob < 1:
        raise HierstanError(f"prob must be between 0 and 1, got {prob!r}")
    labels = idata.posterior[dim].values
    observed = idata.observed_data[outcome_name(idata)].values.astype(float)
    index_name = idata.posterior.attrs.get("group_index")
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
        summary = {"mean": flat.mean(("chain", "draw")), names["low"]: flat.quantile(low, ("chain", "draw")),
                   names["high"]: flat.quantile(high, ("chain", "draw"))}
        for j, key in enumerate(flat["column"].values):
            label = name if key is None else f"{name}[{', '.join(map(str, np.atleast_1d(key)))}]"
            for stat, array in summary.items():
                table[f"{label}_{stat}"] = array.transpose(dim, "column").values[:, j]
    return table
