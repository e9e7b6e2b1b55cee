"""Stan engines: CmdStan through cmdstanpy (preferred when installed) and the native engine
(Stan's own sampler in a driver hierstan builds from the httpstan wheel's Stan library).

Both take a :class:`~hierstan.programs.Program`, a Stan data dict and :class:`SamplerSettings`,
and hand back the same :class:`RawDraws`, from which InferenceData is built in one place.
"""

from __future__ import annotations

import os

from ..errors import EngineUnavailableError, check_choice
from .base import Engine, RawDraws, SamplerSettings
from .cmdstan_engine import CmdStanEngine
from .native_engine import NativeEngine

ENGINES: dict[str, type[Engine]] = {"cmdstan": CmdStanEngine, "native": NativeEngine}

# names the engine "auto" stands for, e.g. to run a test suite on one engine
ENGINE_ENV = "HIERSTAN_ENGINE"

__all__ = ["ENGINES", "Engine", "RawDraws", "SamplerSettings", "available_engines", "get_engine"]


def available_engines() -> list[str]:
    """Names of the engines usable on this machine, preferred first."""
    return [name for name, engine in ENGINES.items() if engine.available()]


def get_engine(name: str = "auto", settings: SamplerSettings | None = None) -> Engine:
    """The engine called ``name``; ``"auto"`` picks ``$HIERSTAN_ENGINE`` if set, else CmdStan
    when installed, else native; but native wherever it can run when ``settings`` ask for what
    only it offers (hierstan's warmup, the low-rank metric)."""
    check_choice("engine", name, ["auto", *ENGINES])
    if name == "auto" and os.environ.get(ENGINE_ENV):
        name = os.environ[ENGINE_ENV]
        check_choice(f"engine (${ENGINE_ENV})", name, list(ENGINES))
    native_only = settings is not None and (settings.adaptation == "hierstan"
                                            or settings.metric == "low_rank")
    if name == "auto" and native_only and ENGINES["native"].available():
        name = "native"
    if name == "auto":
        found = available_engines()
        if not found:
            from .native_build import unavailable_reason

            raise EngineUnavailableError(f"no Stan engine found: {unavailable_reason()}; or install "
                                         "CmdStan and set CMDSTAN")
        name = found[0]
    engine = ENGINES[name]
    if not engine.available():
        raise EngineUnavailableError(f"the {name} engine is not available: {engine.how_to_install}")
    return engine()
