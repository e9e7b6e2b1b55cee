"""Build a Stan program into an executable of hierstan's own driver, against the Stan library,
TBB, SUNDIALS and stanc that the httpstan wheel ships (its Python code is never imported).

Cache layout under ``<cache>/native/``: ``driver-<key>/driver.o`` and, with g++,
``header-<key>/stan/model/model_header.hpp.gch`` (compiled once per Stan version and compiler;
the precompiled header halves each program's compile, 32 -> 17 CPU s for radon, for 800 MB of
disk), and ``<key>/<program>`` (one executable per program text). Every entry
is built in a temporary folder beside it and renamed into place with a manifest written last,
so a killed or failed build leaves nothing a later fit trusts; an entry whose files do not
match its manifest is rebuilt. A trusted entry is used without taking its lock, so a read-only
cache that holds the program (prebuilt, shared) serves fits; only a build needs to write.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..cache import FULL_FIX, MANIFEST, cache_dir, cache_key, compile_lock, manifest_of, not_writable, trusted
from ..errors import CacheError, EngineUnavailableError, SamplingError
from ..faults import bytes_free, disk_full, full_disk_line, is_disk_full, raise_if_disk_full
from ..programs import Program
from ..progress import say

DRIVER_SOURCE = Path(__file__).with_name("native_driver.cpp")
# the driver's own header (hierstan's warmup), part of the driver object and so of every key
DRIVER_HEADER = Path(__file__).with_name("native_adaptation.hpp")
MACROS = ["-DSTAN_THREADS", "-D_REENTRANT", "-DBOOST_DISABLE_ASSERTS",
          "-DBOOST_PHOENIX_NO_VARIADIC_EXPRESSION", "-DNDEBUG",
          # the wheel's libtbb was built with the old libstdc++ string ABI (manylinux2014)
          "-D_GLIBCXX_USE_CXX11_ABI=0"]
# -w: Stan's and TBB's headers warn by the page; the compiler's errors still reach build.log
FLAGS = ["-std=c++17", "-O3", "-w"]


@dataclass(frozen=True)
class Toolchain:
    """Where the wheel's Stan lives and which compiler builds against it."""

    stan_dir: Path
    httpstan_version: str
    compiler: str
    compiler_version: str

    @property
    def include(self) -> Path:
        return self.stan_dir / "include"

    @property
    def lib(self) -> Path:
        return self.stan_dir / "lib"

    @property
    def stanc(self) -> Path:
        return self.stan_dir / "stanc"

    def key(self) -> str:
        return cache_key(self.httpstan_version, str(self.stan_dir), self.compiler_version,
                         " ".join(MACROS + FLAGS), DRIVER_SOURCE.read_text(), DRIVER_HEADER.read_text())


def unavailable_reason() -> str | None:
    """Why the native engine cannot run here, or None when it can."""
    if sys.platform == "win32":
        return "the native engine is not supported on Windows (install CmdStan instead)"
    if importlib.util.find_spec("httpstan") is None:
        return ("the httpstan wheel (Stan's headers, libraries and stanc) is missing: "
                "pip install httpstan==4.13.0")
    if _compiler() is None:
        return ("no C++ compiler found: install g++ (Debian/Ubuntu: apt-get install g++; macOS: "
                "xcode-select --install) or set CXX")
    return None


def _compiler() -> str | None:
    for candidate in (os.environ.get("CXX"), "g++", "clang++"):
        if candidate and shutil.which(candidate):
            return candidate
    return None


@cache
def toolchain() -> Toolchain:
    reason = unavailable_reason()
    if reason:
        raise EngineUnavailableError(reason)
    spec = importlib.util.find_spec("httpstan")
    stan_dir = Path(spec.origin).parent
    compiler = _compiler()
    found = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False)
    return Toolchain(stan_dir, importlib.metadata.version("httpstan"), compiler,
                     found.stdout.splitlines()[0] if found.stdout else compiler)


# a trusted entry (see hierstan.cache.trusted) is complete: used without its lock
_trusted = trusted


def _run(command: list[str], log: Path, what: str) -> None:
    with log.open("a") as out:
        out.write("$ " + " ".join(map(str, command)) + "\n")
        out.flush()
        # in the build folder: stanc names the file in Stan's messages as given, "<program>.stan"
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False,
                              cwd=log.parent, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-40:])
        raise SamplingError(f"{what} failed (exit {done.returncode}); the end of {log}:\n{tail}")


def _build_entry(entry: Path, filename: str, steps, what: str) -> Path:
    """Run ``steps(tmp)`` to make ``tmp/filename``, then publish ``tmp`` as ``entry``."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        if entry.exists():  # damaged: rebuild from nothing
            shutil.rmtree(entry)
        # folders of builds that were killed: we hold the entry's lock, so no one else is using them
        for stale in entry.parent.glob(f".{entry.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    except OSError as exc:
        raise_if_disk_full(exc, entry, f"the build of {what}", _CACHE_FULL, CacheError)
        raise not_writable(exc, what) from exc
    try:
        steps(tmp)
        (tmp / MANIFEST).write_text(manifest_of(tmp / filename))
        tmp.rename(entry)
    except BaseException as exc:
        full = _full_disk(exc, tmp, entry, what)  # read before the build's folder goes
        shutil.rmtree(tmp, ignore_errors=True)
        if full is not None:
            raise full from exc
        raise
    return entry / filename


_CACHE_FULL = (f"nothing half-built is kept: {FULL_FIX} (a program takes about 20 MB there; Stan's "
               "precompiled header, built once, 800 MB)")
_TMPDIR_FULL = ("the compiler keeps its temporary files in {tmp} ($TMPDIR, else /tmp): free space there, or "
                "set TMPDIR to a folder with room")


def _full_disk(exc: BaseException, tmp: Path, entry: Path, what: str) -> CacheError | None:
    """The error for a build that failed for want of space, else None: a write of ours that
    raised ENOSPC, or a compiler whose log says so, or that failed with its disk (nearly) full,
    since a full disk may refuse the compiler's own message to build.log too."""
    if is_disk_full(exc):
        return disk_full(entry, f"the build of {what}", _CACHE_FULL, CacheError)
    if not isinstance(exc, SamplingError):
        return None
    try:
        said = full_disk_line((tmp / "build.log").read_text()) or ""
    except OSError:
        said = ""
    temporaries = tempfile.gettempdir()
    if said and temporaries + os.sep in said and str(cache_dir()) not in said:
        return disk_full(Path(temporaries, "cc*"), f"the compiler's temporary files for {what}",
                         _TMPDIR_FULL.format(tmp=temporaries), CacheError, said=said)
    if said:
        return disk_full(entry, f"the build of {what}", _CACHE_FULL, CacheError, said=said)
    room = bytes_free(tmp)
    if room is not None and room[0] < 1 << 20:  # less than any build needs: its failure is the disk's
        return disk_full(entry, f"the build of {what}", _CACHE_FULL, CacheError,
                         said=str(exc).splitlines()[0])
    return None


def _driver_object(tools: Toolchain) -> Path:
    key = tools.key()
    entry = cache_dir() / "native" / f"driver-{key}"
    what = "hierstan's Stan driver"
    if _trusted(entry, "driver.o"):
        return entry / "driver.o"
    with compile_lock("native", f"driver-{key}", what):
        if _trusted(entry, "driver.o"):  # built by another process while we waited
            return entry / "driver.o"

        def steps(tmp: Path) -> None:
            _run([tools.compiler, *FLAGS, *MACROS, "-I", str(tools.include), "-c", str(DRIVER_SOURCE),
                  "-o", str(tmp / "driver.o")], tmp / "build.log", "compiling hierstan's Stan driver")

        return _build_entry(entry, "driver.o", steps, what)


PCH = "stan/model/model_header.hpp.gch"


def _precompiled_header(tools: Toolchain) -> Path | None:
    """An include folder holding Stan's model header precompiled, for g++ only (clang's
    precompiled headers work differently); None where there is none."""
    if "clang" in tools.compiler_version.lower():
        return None
    key = tools.key()
    entry = cache_dir() / "native" / f"header-{key}"
    what = "Stan's precompiled model header"
    # size only: hashing 800 MB would cost seconds, and g++ itself refuses a damaged header
    if _trusted(entry, PCH, checksum=False):
        return entry
    with compile_lock("native", f"header-{key}", what):
        if not _trusted(entry, PCH, checksum=False):

            def steps(tmp: Path) -> None:
                (tmp / PCH).parent.mkdir(parents=True)
                _run([tools.compiler, *FLAGS, *MACROS, "-I", str(tools.include), "-x", "c++-header",
                      str(tools.include / PCH.removesuffix(".gch")), "-o", str(tmp / PCH)],
                     tmp / "build.log", "precompiling Stan's model header")

            _build_entry(entry, PCH, steps, what)
    return entry


def prepare_toolchain() -> float:
    """Build the once-per-install pieces (driver object, precompiled header) if missing;
    the seconds it took."""
    start = time.perf_counter()
    tools = toolchain()
    _driver_object(tools)
    _precompiled_header(tools)
    return time.perf_counter() - start


def executable(program: Program, progress: bool = False) -> tuple[Path, bool]:
    """The program's driver executable, built now if not cached; and whether it was built now."""
    tools = toolchain()
    options = list(program.stanc_options)
    # the options are in the program's text too; named in the key all the same (none: keys as before)
    key = cache_key(program.code, tools.key(), *options)
    entry = cache_dir() / "native" / key
    if _trusted(entry, program.name):  # complete: no lock, no write (the cache may be read-only)
        return entry / program.name, False
    with compile_lock("native", key, program.name):
        if _trusted(entry, program.name):  # built by another process while we waited
            return entry / program.name, False
        if progress:
            say(f"hierstan: compiling {program.name} (first use only, about a minute)")
        driver = _driver_object(tools)
        header = _precompiled_header(tools)

        def steps(tmp: Path) -> None:
            log = tmp / "build.log"
            stan_file = tmp / f"{program.name}.stan"
            stan_file.write_text(program.code)
            cpp = tmp / f"{program.name}.hpp"
            # stanc's warnings ("has no priors": the scales are data) stay in build.log
            _run([str(tools.stanc), *options, f"--name={program.name}_model", f"--o={cpp}", stan_file.name],
                 log, f"stanc on {program.name}")
            model_o = tmp / f"{program.name}.o"
            # g++ looks for the precompiled header in each include folder before the header itself
            pch = ["-I", str(header)] if header else []
            _run([tools.compiler, *FLAGS, *MACROS, *pch, "-I", str(tools.include), "-x", "c++", "-c",
                  str(cpp), "-o", str(model_o)], log, f"compiling {program.name}")
            _run([tools.compiler, "-o", str(tmp / program.name), str(model_o), str(driver),
                  f"-L{tools.lib}", f"-Wl,-rpath,{tools.lib}", "-ltbb",
                  *(str(tools.lib / f"libsundials_{name}.a")
                    for name in ("cvodes", "idas", "kinsol", "nvecserial")), "-lpthread"],
                 log, f"linking {program.name}")
            model_o.unlink()  # the executable holds it; keep the cache small

        return _build_entry(entry, program.name, steps, program.name), True


@cache
def stan_version() -> str:
    """Stan's version as its headers in the wheel declare it."""
    text = (toolchain().include / "stan" / "version.hpp").read_text()
    parts = [re.search(rf"#define STAN_{part}\s+(\d+)", text) for part in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(found.group(1) for found in parts if found)
