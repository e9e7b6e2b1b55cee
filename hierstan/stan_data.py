"""What a model hands to an engine and to the InferenceData builder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataError

DEFAULT_ADVICE = "raise adapt_delta closer to 1 (e.g. adapt_delta=0.99)"


@dataclass(frozen=True)
class StanData:
    """Stan data plus the labels that turn raw draws into labelled InferenceData.

    The pointwise log-likelihood and replicated outcome of the fitted ``rows`` are computed from
    the draws in numpy, through the family's ``predict``; a program writes them as ``log_lik``
    and ``y_rep`` only when its data flag ``pointwise`` is 1 (a check of that numpy code). In
    InferenceData both are stored under ``outcome``, the observed variable's name, as ArviZ
    expects for LOO and predictive checks.
    """

    program: str
    data: dict[str, Any]
    outcome: str
    observed: np.ndarray
    coords: dict[str, list] = field(default_factory=dict)
    # InferenceData variable name -> dimension names (beyond chain and draw)
    dims: dict[str, list[str]] = field(default_factory=dict)
    # InferenceData constant_data: values known before sampling other than the outcome
    constant: dict[str, Any] = field(default_factory=dict)
    # recorded in the InferenceData attributes (model family, variant, ...)
    attrs: dict[str, Any] = field(default_factory=dict)
    # NUTS target acceptance rate unless the caller sets one
    adapt_delta: float = 0.8
    # what to suggest when the sampler reports divergences
    divergence_advice: str = DEFAULT_ADVICE
    # the validated rows the likelihood covers, in the user's column names (a copy)
    rows: pd.DataFrame | None = None
    # the program's draws (name -> chain x draw x ...) to the fit's variables, for a program whose
    # outputs are flat (the formula family's blocks of any size); None: the draws as they are
    regroup: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None
    # (idata, rows, generator) -> Prediction, for the pointwise output; None: the family's predict
    predict: Callable[..., Any] | None = None

    def with_data(self, **changes: Any) -> StanData:
        """A copy whose Stan data has ``changes`` applied (e.g. ``prior_only=1``)."""
        return StanData(**{**self.__dict__, "data": {**self.data, **changes}})


def column_attrs(**columns: str | list[str]) -> dict[str, str]:
    """The data's column names as InferenceData attributes (``column_<role>``), so that
    post-estimation reads new data by the names the fit was given."""
    return {f"column_{role}": ",".join(name) if isinstance(name, list) else name
            for role, name in columns.items()}


def group_dim(column: str, others: tuple[str, ...], what: str) -> str:
    """The dim of the groups, named after the user's group column (a fit of sites says "site"),
    which must not be the name of one of the family's other dims."""
    if column in (*others, "chain", "draw"):
        raise DataError(f"{what}: the group column is named {column!r}, like a dimension of the "
                        f"fit ({', '.join(others)}, chain, draw); rename the column")
    return column
