"""CmdStan engine through cmdstanpy's documented API; preferred wherever CmdStan is installed."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import tempfile
import time
import warnings
from typing import Any

import numpy as np

from ..cache import FULL_FIX, MANIFEST, cache_dir, cache_key, compile_lock, manifest_of, not_writable, trusted
from ..errors import CacheError, DataError, SamplingError
from ..faults import disk_full, full_disk_line, killed_by, machine_memory, raise_if_disk_full
from ..programs import Program
from ..progress import clear_line, sampling, say
from .base import RawDraws, SamplerSettings


def _killed(said: str) -> str:
    """What killed CmdStan, from the return codes cmdstanpy's error lists (``retcodes=[-9, 0]``:
    a negative code is the signal that ended a process); empty if no process was killed."""
    found = re.search(r"retcodes=\[([-\d, ]*)\]", said)
    codes = [int(code) for code in found.group(1).split(",") if code.strip()] if found else []
    signals = {-code for code in codes if code < 0}
    if not signals:
        return ""
    if len(codes) == 1:  # one process ran every chain
        who = {number: "CmdStan was" for number in signals}
    else:
        who = {number: "the process of chain(s) " + ", ".join(str(i) for i, c in enumerate(codes, 1)
                                                             if c == -number) + " was"
               for number in signals}
    text = " ".join(f"{who[number]} killed by {killed_by(number)}." for number in sorted(signals))
    if signal.SIGKILL in signals:
        text += f" For comparison, {machine_memory()}."
    return text + "\n"


def _cmdstanpy():
    """cmdstanpy, imported without tqdm's "IProgress not found" warning, which its import of
    tqdm.auto prints in every notebook without ipywidgets (the native engine's bars are text)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import cmdstanpy
    return cmdstanpy


def _stanc(program: Program) -> dict[str, Any]:
    """CmdStanModel's arguments for the program's stanc options (hierstan.programs.STANC_OPTIONS):
    stanc_options={"O1": True} for --O1, as on the native build's stanc command line; none without."""
    options = {option.lstrip("-"): True for option in program.stanc_options}
    return {"stanc_options": options} if options else {}


@contextlib.contextmanager
def _cmdstanpy_quiet(quiet: bool, chatter: bool = True):
    """Silence cmdstanpy's logger (INFO chatter, "Non-fatal error during sampling") when asked,
    as the other engines are silent without progress; its errors still raise. Without
    ``chatter``, its warnings only: no lines per chain where no bars are drawn (a log, a job)."""
    logger = logging.getLogger("cmdstanpy")
    before = logger.disabled
    logger.disabled = quiet or before

    def warnings_only(record: logging.LogRecord) -> bool:  # a filter: cmdstanpy sets its own level
        if chatter or record.levelno >= logging.WARNING:
            clear_line()  # below a long job's line in place, not run on after it
            return True
        return False

    logger.addFilter(warnings_only)
    try:
        yield
    finally:
        logger.disabled = before
        logger.removeFilter(warnings_only)


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

    def compile(self, program: Program, progress: bool = True) -> None:
        """Build ``program`` into the cache unless it is there already (before fits fan out)."""
        self._model(program, progress)

    def _model(self, program: Program, progress: bool):
        """The compiled ``program`` (built on first use), and whether it was built now."""
        cmdstanpy = _cmdstanpy()

        # the program's stanc options are in its text too; named in the key all the same
        key = cache_key(program.code, self.version(), cmdstanpy.cmdstan_path(), *program.stanc_options)
        folder = cache_dir() / "cmdstan" / key
        stan_file = folder / f"{program.name}.stan"
        exe_file = stan_file.with_suffix(".exe" if os.name == "nt" else "")
        model = None
        # complete (its manifest matches, written after a successful compile): used without a lock
        # or any write, so a read-only cache that holds the program serves fits
        if not trusted(folder, exe_file.name):
            with compile_lock(self.name, key, program.name):
                if not trusted(folder, exe_file.name):  # else built by another process meanwhile
                    model = self._compile(program, folder, stan_file, exe_file, progress)
        if model is not None:
            return model, True
        try:
            with _cmdstanpy_quiet(not progress):
                # with exe_file given, cmdstanpy compiles nothing and writes nothing
                model = cmdstanpy.CmdStanModel(stan_file=stan_file, exe_file=exe_file, **_stanc(program))
                return model, False
        except Exception as exc:
            raise SamplingError(f"CmdStan could not load {program.name} from {folder}: {exc}") from exc

    def sample(self, program: Program, data: dict[str, Any], settings: SamplerSettings) -> RawDraws:
        # the run's files in a folder of its own, removed once read: cmdstanpy's default folder
        # goes only when the process exits, so a loop of fits filled it (100 KB a small fit)
        with tempfile.TemporaryDirectory(prefix=f"hierstan-{program.name}-") as output_dir:
            return self._sample(program, data, settings, output_dir)

    def _sample(self, program: Program, data: dict[str, Any], settings: SamplerSettings,
                output_dir: str) -> RawDraws:
        if settings.adaptation not in (None, "stan"):
            raise DataError(f"adaptation={settings.adaptation!r} runs on the native engine only; "
                            "CmdStan runs Stan's own (adaptation='stan'): pass engine='native' or "
                            "adaptation='stan'")
        if settings.metric not in (None, "diag"):
            raise DataError(f"metric={settings.metric!r} runs on the native engine only (CmdStan "
                            "here adapts a diagonal metric): pass engine='native' or metric='diag'")
        start = time.perf_counter()
        model, compiled_now = self._model(program, settings.progress)
        built = time.perf_counter()
        try:
            with (sampling(program.name, chains=settings.chains, warmup=settings.warmup, draws=settings.draws,
                           show=settings.progress) as bars,
                  _cmdstanpy_quiet(not settings.progress, chatter=bars)):
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
                    show_progress=bars,
                    output_dir=output_dir,
                )
        except Exception as exc:
            raise SamplingError(f"CmdStan failed while sampling {program.name}: {_killed(str(exc))}"
                                f"{exc}") from exc
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

    @staticmethod
    def _compile(program: Program, folder, stan_file, exe_file, progress: bool):
        """Compile ``program`` into ``folder`` (its lock held), then write the manifest that marks
        the executable complete: an executable without one (a killed build) is built again."""
        cmdstanpy = _cmdstanpy()
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # others stay out while it builds
            (folder / MANIFEST).unlink(missing_ok=True)
            stan_file.write_text(program.code)
            exe_file.unlink(missing_ok=True)  # no manifest: maybe the remains of a killed build
        except OSError as exc:
            raise_if_disk_full(exc, folder, f"the build of {program.name}", FULL_FIX, CacheError)
            raise not_writable(exc, program.name) from exc
        if progress:
            say(f"hierstan: compiling {program.name} with CmdStan (first use only)")
        try:
            with _cmdstanpy_quiet(not progress):
                model = cmdstanpy.CmdStanModel(stan_file=stan_file, **_stanc(program))
        except Exception as exc:
            said = full_disk_line(str(exc))
            if said:  # a full disk: drop what the build left, which no one can trust, to free space
                for made in (exe_file, stan_file.with_suffix(".hpp"), stan_file.with_suffix(".o")):
                    made.unlink(missing_ok=True)
                raise disk_full(folder, f"the build of {program.name}", FULL_FIX, CacheError,
                                said=said) from exc
            raise SamplingError(f"CmdStan could not compile {program.name}: {exc}") from exc
        written = folder / f".{MANIFEST}.{os.getpid()}"
        try:
            written.write_text(manifest_of(exe_file))
            os.replace(written, folder / MANIFEST)
        except BaseException as exc:
            written.unlink(missing_ok=True)
            raise_if_disk_full(exc, folder, f"the build of {program.name}", FULL_FIX, CacheError)
            raise
        return model
