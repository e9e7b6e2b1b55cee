"""What every engine takes and returns."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from ..errors import DataError
from ..programs import Program

# "hierstan": the native engine's own warmup (metric from draws and gradients, see
# native_adaptation.hpp), its default; "stan": Stan's windowed adaptation, CmdStan's and the
# only one CmdStan runs
ADAPTATIONS = ("hierstan", "stan")
# "diag": a diagonal metric; "low_rank": the diagonal plus up to 10 directions in which the
# posterior is correlated (hierstan's warmup only)
METRICS = ("diag", "low_rank")


@dataclass(frozen=True)
class SamplerSettings:
    """NUTS settings shared by both engines (names follow CmdStan's meaning)."""

    chains: int = 4
    draws: int = 1000
    warmup: int = 1000
    seed: int = 1
    adapt_delta: float = 0.8
    max_treedepth: int = 10
    progress: bool = True
    # threads for the chains of one fit; None: min(chains, cores). Parallel fits share the cores,
    # so give each 1 when running several at once
    threads: int | None = None
    # warmup adaptation (ADAPTATIONS); None: the engine's default
    adaptation: str | None = None
    metric: str | None = None  # METRICS; None: the engine's default

    def __post_init__(self) -> None:
        for name, low in (("chains", 1), ("draws", 1), ("warmup", 0), ("max_treedepth", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise DataError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.threads is None:
            object.__setattr__(self, "threads", min(self.chains, os.cpu_count() or 1))
        elif isinstance(self.threads, bool) or not isinstance(self.threads, (int, np.integer)) \
                or self.threads < 1:
            raise DataError(f"threads must be an integer >= 1 or None, got {self.threads!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise DataError(f"seed must be an integer, got {self.seed!r}")
        if not 0 <= self.seed < 2**31:
            raise DataError(f"seed must be in [0, 2**31), got {self.seed}")
        if self.adaptation is not None and self.adaptation not in ADAPTATIONS:
            raise DataError(f"adaptation must be None or one of {', '.join(ADAPTATIONS)}, "
                            f"got {self.adaptation!r}")
        if self.metric is not None and self.metric not in METRICS:
            raise DataError(f"metric must be None or one of {', '.join(METRICS)}, got {self.metric!r}")
        if self.metric == "low_rank" and self.adaptation == "stan":
            raise DataError("metric='low_rank' is adapted by hierstan's warmup only; Stan's "
                            "adaptation (adaptation='stan') adapts a diagonal metric")
        if not 0 < self.adapt_delta < 1:
            raise DataError(f"adapt_delta must lie strictly between 0 and 1, got {self.adapt_delta}")


@dataclass
class RawDraws:
    """Draws from one sampling run, laid out the same by every engine.

    ``variables`` maps each Stan variable to an array (chain, draw, *shape); ``sampler`` maps
    Stan's sampler columns (``lp__``, ``divergent__``, ...) to arrays (chain, draw). Variables
    of size 0 (a program told not to write pointwise output) are left out: CmdStan's CSV has
    no column to give them.
    """

    variables: dict[str, np.ndarray]
    sampler: dict[str, np.ndarray]
    engine: str
    engine_version: str
    compiled_now: bool
    seconds: dict[str, float] = field(default_factory=dict)
    # adapted "step_size" (chain,) and diagonal "inv_metric" (chain, unconstrained parameter)
    adaptation: dict[str, np.ndarray] = field(default_factory=dict)
    rejections: int | None = None  # proposals Stan rejected with an informational message
    adaptation_method: str = "stan"  # which warmup ran (ADAPTATIONS)
    # per chain: "iterations", "gradients" (-1 where unknown: Stan's service does not count them)
    # and "seconds" of the warmup
    warmup: dict[str, np.ndarray] = field(default_factory=dict)


class Engine(Protocol):
    name: ClassVar[str]
    how_to_install: ClassVar[str]

    @classmethod
    def available(cls) -> bool: ...

    @classmethod
    def version(cls) -> str: ...

    @classmethod
    def location(cls) -> str:
        """Where the engine's Stan lives (shown by ``hierstan info``)."""
        ...

    def compile(self, program: Program, progress: bool = True) -> None: ...

    def sample(
        self, program: Program, data: dict[str, Any], settings: SamplerSettings
    ) -> RawDraws: ...
