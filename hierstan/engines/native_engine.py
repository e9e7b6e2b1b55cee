"""The embedded engine: Stan's own NUTS service in a driver executable hierstan builds itself
(``native_build``), one process per fit, all chains on TBB threads inside it."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from stanio import write_stan_json  # Stan's JSON conventions (ints, empty arrays, inf)

from ..errors import SamplingError
from ..faults import (
    bytes_free,
    disk_full,
    full_disk_line,
    killed_by,
    machine_memory,
    raise_if_disk_full,
    size_text,
)
from ..programs import Program
from ..progress import sampling
from . import native_build
from .base import RawDraws, SamplerSettings

_PROGRESS = re.compile(r"^(?:Chain \[(\d+)\] )?Iteration:\s*(\d+) / (\d+)")
_REJECTION = "Informational Message"


class NativeEngine:
    name = "native"
    how_to_install = "it needs the httpstan wheel (a hierstan dependency) and a C++ compiler (g++)"

    @classmethod
    def available(cls) -> bool:
        return native_build.unavailable_reason() is None

    @classmethod
    def version(cls) -> str:
        tools = native_build.toolchain()
        return (f"native (Stan {native_build.stan_version()} from httpstan {tools.httpstan_version}; "
                f"{tools.compiler_version})")

    @classmethod
    def location(cls) -> str:
        return str(native_build.toolchain().stan_dir)

    def compile(self, program: Program, progress: bool = True) -> None:
        """Build ``program`` into the cache unless it is there already (before fits fan out)."""
        native_build.executable(program, progress=progress)

    def sample(self, program: Program, data: dict[str, Any], settings: SamplerSettings) -> RawDraws:
        start = time.perf_counter()
        exe, compiled_now = native_build.executable(program, progress=settings.progress)
        built = time.perf_counter()
        run_dir = _make_run_folder(program.name)
        try:
            _write_data(run_dir, data, program.name)
            with sampling(program.name, chains=settings.chains, warmup=settings.warmup, draws=settings.draws,
                          show=settings.progress) as bars:
                _run_driver(exe, run_dir, settings, program.name, bars=bars)
            sampled = time.perf_counter()
            variables, sampler = _read_draws(run_dir, settings)
            adaptation = _read_adaptation(run_dir, settings.chains)
            warmup = _read_warmup(run_dir, settings.chains)
            rejected = _rejections(run_dir)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
        return RawDraws(
            variables=variables,
            sampler=sampler,
            engine=self.name,
            engine_version=self.version(),
            compiled_now=compiled_now,
            seconds={"build": built - start, "sample": sampled - built},
            adaptation=adaptation,
            rejections=rejected,
            adaptation_method=_adaptation_method(settings),
            warmup=warmup,
        )


def log_density(program: Program, data: dict[str, Any], points: list[dict[str, Any]]) -> np.ndarray:
    """The program's log density at each point (constrained values), without the Jacobian and
    up to a constant (Stan's ``~`` drops constants): compare differences between points."""
    out = _one_shot(program, "log_density", [data, *points], [], "evaluate its log density")
    return np.array([float(v) for v in out.split()])


def log_density_gradient(program: Program, data: dict[str, Any],
                         points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The full log density (Jacobian and constants included) and its gradient at each
    unconstrained point (rows of ``points``): two programs with the same parameters agree here
    to rounding when they define the same posterior."""
    points = np.atleast_2d(np.asarray(points, dtype=float))
    out = _one_shot(program, "log_density_gradient", [data, {"points": points}], [],
                    "evaluate its log density and gradient")
    values = np.array([[float(v) for v in line.split()] for line in out.splitlines() if line])
    return values[:, 0], values[:, 1:]


def check_data(program: Program, data: dict[str, Any]) -> int:
    """Construct the program's model from ``data`` and exit, so that Stan's own checks of the
    constraints its data block declares run without sampling; the number of parameters.
    Data that break a constraint raise :class:`SamplingError` with Stan's message."""
    out = _one_shot(program, "check_data", [data], [], "accept the data")
    return int(dict(line.split("\t") for line in out.splitlines())["parameters"])


def gradient_cost(program: Program, data: dict[str, Any], seed: int = 1, evaluations: int = 2000) -> float:
    """Microseconds per log-density gradient of the compiled program, nothing else around it."""
    out = _one_shot(program, "gradient", [data], [str(seed), str(evaluations)], "time its gradient")
    return float(dict(line.split("\t") for line in out.splitlines())["us_per_gradient"])


def _one_shot(program: Program, mode: str, documents: list[dict[str, Any]], extra: list[str],
              what: str) -> str:
    """The driver's stdout for ``mode``, given the documents as JSON files, then ``extra``."""
    exe, _ = native_build.executable(program)
    with tempfile.TemporaryDirectory(prefix=f"hierstan-{mode}-") as folder:
        files = [Path(folder) / f"{i}.json" for i in range(len(documents))]
        for path, values in zip(files, documents):
            write_stan_json(str(path), values)
        done = subprocess.run([str(exe), mode, *map(str, files), *extra], capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise SamplingError(f"Stan could not {what} for {program.name}: {done.stderr.strip()}")
    return done.stdout


def _make_run_folder(name: str) -> Path:
    """The fit's run folder, in Python's temporary folder (``$TMPDIR``, else /tmp)."""
    try:
        return Path(tempfile.mkdtemp(prefix=f"hierstan-{name}-"))
    except OSError as exc:
        raise_if_disk_full(exc, Path(tempfile.gettempdir(), f"hierstan-{name}-*"), "the sampler's run folder",
                           _tmpdir_fix(), SamplingError)
        raise


def _write_data(run_dir: Path, data: dict[str, Any], name: str) -> None:
    try:
        write_stan_json(str(run_dir / "data.json"), data)
    except OSError as exc:
        raise_if_disk_full(exc, run_dir / "data.json", f"the data of {name} in the sampler's run folder",
                           _tmpdir_fix(), SamplingError)
        raise


def _run_driver(exe: Path, run_dir: Path, settings: SamplerSettings, name: str, *, bars: bool) -> None:
    iterations = settings.warmup + settings.draws
    refresh = max(1, iterations // 100) if settings.progress else 0
    command = [str(exe), "sample", str(run_dir / "data.json"), str(run_dir), str(settings.chains),
               str(settings.threads), str(settings.seed), str(settings.warmup), str(settings.draws),
               repr(float(settings.adapt_delta)), str(settings.max_treedepth), str(refresh),
               _adaptation_method(settings), settings.metric or "diag"]
    last: list[str] = []  # the last progress line: where a killed sampler stopped
    with open(run_dir / "stderr.txt", "w") as errors:
        # stdin stays open and unused: the driver exits when it closes, i.e. when we die
        driver = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=errors, text=True)
        try:
            _show_progress(_keeping_last(driver.stdout, last), chains=settings.chains, iterations=iterations,
                           bars=bars)
            code = driver.wait()
        except BaseException:  # Ctrl-C (KeyboardInterrupt) or anything else: stop the driver now
            driver.kill()
            driver.wait()
            raise
        finally:
            driver.stdout.close()
            driver.stdin.close()
    if code != 0:
        raise SamplingError(f"Stan failed while sampling {name}: {_failure(run_dir, code, settings, last)}")


def _keeping_last(lines, last: list[str]):
    for line in lines:
        last[:] = [line.strip()]
        yield line


def _show_progress(lines, *, chains: int, iterations: int, bars: bool) -> None:
    """Per-chain bars from the driver's progress lines, or (``bars`` False) the lines read and
    dropped: hierstan.progress decides."""
    if not bars:
        for _ in lines:
            pass
        return
    from tqdm import tqdm  # text bars: the same in a terminal and a notebook, no widgets needed

    shown = [tqdm(total=iterations, desc=f"chain {i + 1}", position=i, leave=True, file=sys.stderr,
                  unit="it", dynamic_ncols=True) for i in range(chains)]
    try:
        for line in lines:
            found = _PROGRESS.match(line)
            if found:
                bar = shown[int(found.group(1) or 1) - 1]
                bar.update(int(found.group(2)) - bar.n)
    finally:
        for bar in shown:
            bar.close()


def _failure(run_dir: Path, code: int, settings: SamplerSettings, last: list[str]) -> str:
    """Stan's own words for a failed run: what killed the driver, a full disk, an allocation that
    failed, else the driver's error and the log's errors."""
    said = (run_dir / "stderr.txt").read_text().strip()
    if code < 0:
        return _killed(run_dir, -code, settings, said, last)
    full = full_disk_line(said)
    if full or (code == _EXIT_SOFTWARE and not said and _no_room(run_dir)):  # stderr.txt found no room
        return _run_folder_full(run_dir, settings, full or "")
    if "std::bad_alloc" in said:
        return ("the sampler ran out of memory: an allocation failed (std::bad_alloc), for want of memory "
                f"or of the address space a limit allows (ulimit -v). {_memory(run_dir, settings)}")
    lines = _log_lines(run_dir)
    errors = [line.split("\t", 1)[1].strip() for line in lines
              if line.startswith(("warn\t", "error\t", "fatal\t"))]
    # the same rejection repeats for every initialisation attempt: show each message once
    unique = list(dict.fromkeys(errors))[-10:]
    return "\n".join(filter(None, [said, *unique])) or f"the driver exited with code {code}"


_EXIT_SOFTWARE = 70  # the driver's exit code for an error it caught (EX_SOFTWARE)


def _tmpdir_fix(room: str = "") -> str:
    return (f"the run folder is made in Python's temporary folder, {tempfile.gettempdir()} ($TMPDIR, else "
            f"/tmp): free space there, or set TMPDIR to a folder with room{room} before starting Python")


def _killed(run_dir: Path, number: int, settings: SamplerSettings, said: str, last: list[str]) -> str:
    """A driver ended by a signal: which, what usually sends it, and its last words."""
    text = f"the sampler was killed by {killed_by(number)}."
    if number == signal.SIGKILL:
        text += f" {_memory(run_dir, settings)}"
    where = [f"its last progress line: {last[0]}"] if last and last[0] else []
    tail = [*said.splitlines()[-5:], *_log_lines(run_dir)[-5:]]
    where.append("the last lines of its log:\n  " + "\n  ".join(tail) if tail else "its log is empty")
    return text + "\n" + "\n".join(where)


def _memory(run_dir: Path, settings: SamplerSettings) -> str:
    """The fit's memory (an estimate) beside the machine's. Not the driver's measured peak: the
    kernel's ru_maxrss of a child counts the parent's memory it was forked from."""
    data = _size_of(run_dir / "data.json")
    columns = _columns(run_dir)
    if columns:
        draws = settings.chains * settings.draws * columns * 8
        fit = (f"This fit's memory, estimated as its draws ({settings.chains} chains x {settings.draws} "
               f"draws x {columns} columns x 8 bytes = {size_text(draws)}) plus its data "
               f"({size_text(data)}): about {size_text(draws + data)}")
    else:
        fit = (f"This fit's data take {size_text(data)} (the size of its draws is unknown: the sampler "
               "stopped before it named its columns)")
    return f"{fit}; {machine_memory()}."


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _columns(run_dir: Path) -> int:
    try:
        return len((run_dir / "columns.txt").read_text().split())
    except OSError:
        return 0


def _log_lines(run_dir: Path) -> list[str]:
    log = run_dir / "stan.log"
    return log.read_text().splitlines() if log.exists() else []


def _no_room(run_dir: Path, needed: int = 1) -> bool:
    """The run folder's file system has less than ``needed`` bytes (and a block) free."""
    found = bytes_free(run_dir)
    return found is not None and found[0] < max(needed, 4096)


def _run_folder_full(run_dir: Path, settings: SamplerSettings, said: str) -> str:
    columns = _columns(run_dir)
    size = settings.chains * settings.draws * columns * 8
    room = f" for about {size_text(size)} of draws" if columns else ""
    return str(disk_full(run_dir, "the draws in the sampler's run folder", _tmpdir_fix(room), SamplingError,
                         said=said))


def _rejections(run_dir: Path) -> int:
    """Proposals Stan rejected (\"Informational Message\" lines): not failures, only counted."""
    return sum(line.startswith(f"reject\t{_REJECTION}") for line in _log_lines(run_dir))


def _read_draws(run_dir: Path, settings: SamplerSettings):
    columns = (run_dir / "columns.txt").read_text().split()
    specs = []
    for line in (run_dir / "variables.tsv").read_text().splitlines():
        name, _, dims = line.partition("\t")
        specs.append((name, tuple(int(d) for d in dims.split(",") if d)))
    n_sampler = sum(column.endswith("__") for column in columns)
    table = np.empty((settings.chains, settings.draws, len(columns)))  # (chain, draw, column)
    for chain in range(1, settings.chains + 1):
        path = run_dir / f"chain-{chain}.bin"
        size = path.stat().st_size // table.itemsize
        if size != table[0].size:
            short = f"chain {chain} wrote {size // max(len(columns), 1)} of {settings.draws} draws"
            if _no_room(run_dir, (table[0].size - size) * table.itemsize):  # its writes found no room
                short = _run_folder_full(run_dir, settings, short)
            raise SamplingError(short)
        with open(path, "rb") as rows:  # straight into the table: no copy per chain
            rows.readinto(memoryview(table[chain - 1]).cast("B"))
    sampler = {name: table[:, :, i] for i, name in enumerate(columns[:n_sampler])}
    variables, at = {}, n_sampler
    for name, dims in specs:
        size = int(np.prod(dims, dtype=int))
        if size == 0:  # a program told not to write pointwise output
            continue
        block = table[:, :, at:at + size]
        # Stan writes each variable column-major: the first index runs fastest
        block = block.reshape(*table.shape[:2], *reversed(dims))
        variables[name] = np.ascontiguousarray(block.transpose(0, 1, *range(len(dims) + 1, 1, -1)))
        at += size
    if at != len(columns):
        raise SamplingError(f"the driver wrote {len(columns)} columns, its variables account for {at}")
    return variables, sampler


def _adaptation_method(settings: SamplerSettings) -> str:
    return settings.adaptation or "hierstan"


def _read_warmup(run_dir: Path, chains: int) -> dict[str, np.ndarray]:
    """Each chain's warmup iterations, gradients (-1: not counted) and seconds."""
    rows = []
    for chain in range(1, chains + 1):
        path = run_dir / f"warmup-{chain}.tsv"
        if not path.exists():
            return {}
        rows.append(dict(line.split("\t") for line in path.read_text().splitlines() if line))
    return {key: np.array([float(row[key]) for row in rows]) for key in rows[0]}


def _read_adaptation(run_dir: Path, chains: int) -> dict[str, np.ndarray]:
    files = [run_dir / f"adapt-{chain}.bin" for chain in range(1, chains + 1)]
    if not all(f.exists() for f in files):  # no warmup, no adaptation
        return {}
    values = np.stack([np.fromfile(f, dtype=np.float64) for f in files])
    return {"step_size": values[:, 0], "inv_metric": values[:, 1:]}

