"""What every model family declares, and the one ``fit`` they all share.

A family is its data preparation (``prepare``: a DataFrame to checked Stan data) plus a few
facts about it; sampling is the same for all of them (:func:`hierstan.sample`). The command
line and the catalogue test read these declarations, so a family is described in one place.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import arviz as az
import pandas as pd

from .errors import UnknownNameError
from .fitting import check_sampler_arguments, sample
from .stan_data import StanData


@dataclass(frozen=True)
class Family:
    """One model family: its name, choices, defaults and data preparation.

    ``variants`` and ``parameterizations`` list the default first; ``parameterizations`` is
    empty where the family offers no choice. ``columns`` maps each column argument of
    ``prepare`` (``outcome``, ``group``, ...) to its default column name in the shipped data.
    """

    name: str
    description: str
    prepare: Callable[..., StanData]
    load_data: Callable[[], pd.DataFrame]
    variants: tuple[str, ...]
    columns: Mapping[str, str]
    priors: Mapping[str, Any] = field(default_factory=dict)
    parameterizations: tuple[str, ...] = ()
    simulate: Callable[..., Any] | None = None
    # (design, variant=, priors=, seed=) -> (data, truth): parameters drawn from the program's
    # prior, then data from them (simulation-based calibration)
    simulate_prior: Callable[..., Any] | None = None
    # (idata, new data, generator) -> hierstan.post_estimation.Prediction
    predict: Callable[..., Any] | None = None

    @property
    def options(self) -> tuple[str, ...]:
        """The data arguments ``prepare`` takes: variant, priors, ..., and the column names."""
        parameters = inspect.signature(self.prepare).parameters
        named = [name for name, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        return tuple(dict.fromkeys([*named, *self.columns]))

    def fit(
        self,
        data: pd.DataFrame | None = None,
        *,
        engine: str = "auto",
        chains: int = 4,
        draws: int = 1000,
        warmup: int = 1000,
        seed: int | None = None,
        adapt_delta: float | None = None,
        max_treedepth: int = 10,
        prior: bool = False,
        progress: bool = True,
        threads: int | None = None,
        adaptation: str | None = None,
        metric: str | None = None,
        **options: Any,
    ) -> az.InferenceData:
        """Prepare ``data`` (default: the shipped data) with ``options`` (the family's data
        arguments: variant, priors, column names, ...) and sample it; the sampler arguments are
        those of :func:`hierstan.sample`. An unknown argument is refused before any work, with
        the list of valid ones."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise UnknownNameError(
                f"{self.name}.fit: unknown argument(s) {', '.join(unknown)}; the data arguments are "
                f"{', '.join(self.options)} and the sampler's are {', '.join(SAMPLER_ARGUMENTS)}")
        check_sampler_arguments(engine=engine, chains=chains, draws=draws, warmup=warmup, seed=seed,
                                adapt_delta=adapt_delta, max_treedepth=max_treedepth, prior=prior,
                                progress=progress, threads=threads, adaptation=adaptation,
                                metric=metric)
        prepared = self.prepare(data, **options)
        return sample(prepared, engine=engine, chains=chains, draws=draws, warmup=warmup, seed=seed,
                      adapt_delta=adapt_delta, max_treedepth=max_treedepth, prior=prior,
                      progress=progress, threads=threads, adaptation=adaptation, metric=metric)


SAMPLER_ARGUMENTS = tuple(
    name for name, p in inspect.signature(Family.fit).parameters.items()
    if p.kind is inspect.Parameter.KEYWORD_ONLY
)
