"""CmdStan engine through cmdstanpy's documented API; preferred wherever CmdStan is installed."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import warnings
from typing import Any

import numpy as np

from ..cache import cache_dir, cache_key, compile_lock
from ..errors import SamplingError
from ..programs import Program
from .base import RawDraws, SamplerSettings


def _cmdstanpy():
    """cmdstanpy, imported without tqdm's "IProgress not found" warning, which its import of
    tqdm.auto prints in every notebook without ipywidgets (the native engine's bars are text)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import cmdstanpy
    return cmdstanpy


@contextlib.contextmanager
def _cmdstanpy_quiet(quiet: bool):
    """Silence cmdstanpy's logger (INFO chatter, "Non-fatal error during sampling") when asked,
    as the other engines are silent without progress; its errors still raise."""
    logger = logging.getLogger("cmdstanpy")
    before = logger.disabled
    logger.disabled = quiet or before
    try:
        yield
    finally:
        logger.disabled = before


class CmdStanEngine:
    name = "cmdstan"
    how_to_install = (
        "run `hierstan install-cmdstan` where GitHub is reachable, or point the CMDSTAN "
        "environment variable at an existing CmdStan directory"
    )

    @classmethod
    def available(cls) -> bool:
        cmdstanpy = _cmdstanpy()

        try:
            cmdstanpy.cmdstan_path()
        except (ValueError, RuntimeError):
            return False
        return True

    @classmethod
    def version(cls) -> str:
        cmdstanpy = _cmdstanpy()

        found = cmdstanpy.cmdstan_version()
        cmdstan = ".".join(map(str, found)) if found else "unknown"
        return f"cmdstan {cmdstan} (cmdstanpy {cmdstanpy.__version__})"

    @classmethod
    def location(cls) -> str:
        cmdstanpy = _cmdstanpy()

        return cmdstanpy.cmdstan_path()

    def sample(self, program: Program, data: dict[str, Any], settings: SamplerSettings) -> RawDraws:
        cmdstanpy = _cmdstanpy()

        key = cache_key(program.code, self.version(), cmdstanpy.cmdstan_path())
        folder = cache_dir() / "cmdstan" / key
        stan_file = folder / f"{program.name}.stan"
        exe_file = stan_file.with_suffix(".exe" if os.name == "nt" else "")
        start = time.perf_counter()
        with compile_lock(self.name, key):
            compiled_now = not exe_file.exists()
            if compiled_now:
                folder.mkdir(parents=True, exist_ok=True)
                stan_file.write_text(program.code)
                if settings.progress:
                    print(f"hierstan: compiling {program.name} with CmdStan (first use only)",
                          file=sys.stderr)
            try:
                # cmdstanpy compiles only when the executable is missing or older than the source
                with _cmdstanpy_quiet(not settings.progress):
                    model = cmdstanpy.CmdStanModel(stan_file=stan_file)
            except Exception as exc:
                raise SamplingError(f"CmdStan could not compile {program.name}: {exc}") from exc
        built = time.perf_counter()
        try:
            with _cmdstanpy_quiet(not settings.progress):
                fit = model.sample(
                    data=data,
                    chains=settings.chains,
                    parallel_chains=settings.threads,
                    iter_warmup=settings.warmup,
                    iter_sampling=settings.draws,
                    seed=int(settings.seed),
                    # CmdStan refuses adaptation (and its settings) without warmup iterations
                    adapt_engaged=settings.warmup > 0,
                    adapt_delta=settings.adapt_delta if settings.warmup else None,
                    max_treedepth=settings.max_treedepth,
                    # CmdStan's CSV keeps 6 significant digits unless told; 18 round-trips a double
                    sig_figs=18,
                    show_progress=settings.progress,
                )
        except Exception as exc:
            raise SamplingError(f"CmdStan failed while sampling {program.name}: {exc}") from exc
        sampled = time.perf_counter()
        chains, draws = settings.chains, settings.draws
        # stan_variable stacks chains one after another: (chain * draw, *shape)
        variables = {
            name: np.asarray(values).reshape(chains, draws, *np.shape(values)[1:])
            for name, values in fit.stan_variables().items()
        }
        # method_variables holds the sampler columns as (draw, chain)
        sampler = {
            name: np.asarray(values).reshape(draws, chains).T
            for name, values in fit.method_variables().items()
        }
        adaptation = {}
        # cmdstanpy 1.3 renamed metric to inv_metric
        inv_metric = fit.inv_metric if hasattr(type(fit), "inv_metric") else fit.metric
        if fit.step_size is not None and inv_metric is not None:
            adaptation = {"step_size": np.asarray(fit.step_size), "inv_metric": np.asarray(inv_metric)}
        return RawDraws(
            variables=variables,
            sampler=sampler,
            adaptation=adaptation,
            engine=self.name,
            engine_version=self.version(),
            compiled_now=compiled_now,
            seconds={"build": built - start, "sample": sampled - built},
        )
