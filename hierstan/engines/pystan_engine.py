"""PyStan 3 engine: stanc, the Stan library and TBB ship in the httpstan wheel; g++ compiles.

httpstan keeps compiled models in its own cache directory; hierstan points that directory into
its own cache (``<cache>/pystan``) so one setting governs both engines, and names models by
program text and Python environment (httpstan hashes ``sys.executable``, so ``python`` and a
console script of the same environment would each compile the program). httpstan also stores
every seeded fit on disk; hierstan deletes those after reading them, or the cache would grow with
every run (and a rerun would replay the stored fit instead of sampling).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import hashlib
import importlib.util
import io
import sys
import time
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import cache_dir, cache_key, compile_lock
from ..errors import SamplingError
from ..programs import Program
from .base import RawDraws, SamplerSettings

_httpstan_dir: Path | None = None


def _model_name(code: str) -> str:
    import httpstan

    digest = hashlib.blake2b(digest_size=5)
    for part in (code, httpstan.__version__, sys.platform, str(sys.maxsize), sys.version, sys.prefix):
        digest.update(part.encode())
    return "models/" + base64.b32encode(digest.digest()).decode().lower()


def _configure_httpstan() -> None:
    """Fix httpstan's cache directory for this process (its sampling workers are forked)."""
    global _httpstan_dir
    import httpstan
    import httpstan.cache
    import httpstan.models

    if _httpstan_dir is None:
        _httpstan_dir = cache_dir() / "pystan" / f"httpstan-{httpstan.__version__}"
        httpstan.cache.cache_directory = lambda: _httpstan_dir
        httpstan.models.calculate_model_name = _model_name


def _outside_event_loop(fn, *args, **kwargs):
    """Call fn; in a thread of its own if this one runs an event loop (Jupyter), because
    PyStan calls ``asyncio.run``, which refuses to start inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args, **kwargs)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def _model_directory(code: str) -> Path:
    import httpstan.cache

    return httpstan.cache.model_directory(_model_name(code))


def _is_built(code: str) -> bool:
    folder = _model_directory(code)
    return folder.is_dir() and any(p.suffix in EXTENSION_SUFFIXES for p in folder.iterdir())


def _by_chain(values: np.ndarray, chains: int, shape: tuple[int, ...] = ()) -> np.ndarray:
    """PyStan's (*shape, draw * chain), chains interleaved, as (chain, draw, *shape);
    scalars come as (1, draw * chain)."""
    values = values.reshape(*shape, values.shape[-1] // chains, chains)  # explicit: shape may hold a 0
    return np.moveaxis(values, (-1, -2), (0, 1))


class PyStanEngine:
    name = "pystan"
    how_to_install = "pip install 'pystan>=3.10' (Linux or macOS; needs g++)"

    @classmethod
    def available(cls) -> bool:
        return sys.platform != "win32" and importlib.util.find_spec("stan") is not None

    @classmethod
    def version(cls) -> str:
        import httpstan
        import stan

        return f"pystan {stan.__version__} (httpstan {httpstan.__version__})"

    @classmethod
    def location(cls) -> str:
        import httpstan

        return str(Path(httpstan.__file__).parent)

    def build(self, program: Program, data: dict[str, Any], seed: int = 1, progress: bool = False):
        """PyStan's model for ``program`` and ``data`` (compiled once, cached), and whether it
        was compiled now. Also gives ``log_prob`` and friends to callers that need a density."""
        import stan

        _configure_httpstan()
        with compile_lock(self.name, cache_key(program.code, self.version())):
            compiled_now = not _is_built(program.code)
            if compiled_now and progress:
                print(f"hierstan: compiling {program.name} with PyStan "
                      "(first use only, about a minute)", file=sys.stderr)
            try:
                posterior = _outside_event_loop(stan.build, program.code, data=data, random_seed=int(seed))
            except Exception as exc:  # stanc and data-check errors come back as ValueError
                raise SamplingError(f"PyStan could not build {program.name}: {exc}") from exc
            if compiled_now:
                # PyStan replays the stored g++ warnings (from TBB's headers) on every later
                # build of a cached model; they were shown once, now keep later runs quiet
                (_model_directory(program.code) / "stderr.log").write_text("")
        return posterior, compiled_now

    def sample(self, program: Program, data: dict[str, Any], settings: SamplerSettings) -> RawDraws:
        start = time.perf_counter()
        with contextlib.ExitStack() as quiet:
            if not settings.progress:  # PyStan reports on both streams
                quiet.enter_context(contextlib.redirect_stdout(io.StringIO()))
                quiet.enter_context(contextlib.redirect_stderr(io.StringIO()))
            posterior, compiled_now = self.build(program, data, settings.seed, settings.progress)
            built = time.perf_counter()
            try:
                fit = _outside_event_loop(
                    posterior.sample,
                    num_chains=settings.chains,
                    num_samples=settings.draws,
                    num_warmup=settings.warmup,
                    delta=settings.adapt_delta,
                    max_depth=settings.max_treedepth,
                )
            except Exception as exc:
                raise SamplingError(f"PyStan failed while sampling {program.name}: {exc}") from exc
            finally:
                for stored in _model_directory(program.code).glob("*.jsonlines.gz"):
                    stored.unlink(missing_ok=True)
        sampled = time.perf_counter()
        chains = settings.chains
        return RawDraws(
            variables={
                name: _by_chain(fit[name], chains, tuple(shape))
                for name, shape in zip(fit.param_names, fit.dims)
                if np.prod(shape, dtype=int) > 0
            },
            sampler={name: _by_chain(fit[name], chains) for name in fit.sample_and_sampler_param_names},
            engine=self.name,
            engine_version=self.version(),
            compiled_now=compiled_now,
            seconds={"build": built - start, "sample": sampled - built},
        )
