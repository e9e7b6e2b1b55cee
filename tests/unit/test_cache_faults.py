"""A compile cache hierstan cannot write: a clear CacheError where a build is needed, and a
read-only prebuilt cache that serves fits without a lock or a write. The builds are faked (no
compiler runs) except in the one test marked slow."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from unprivileged import where_modes_bind

from hierstan import CacheError, SamplingError
from hierstan.cache import MANIFEST, cache_dir, compile_lock
from hierstan.engines import native_build
from hierstan.engines.cmdstan_engine import CmdStanEngine
from hierstan.programs import Program

ROOT = Path(__file__).resolve().parents[2]
TINY = Program("tiny", "parameters { real x; } model { x ~ normal(0, 1); }\n")
OTHER = Program("other", "parameters { real y; } model { y ~ normal(1, 1); }\n")


def _tree(folder: Path) -> dict[str, int]:
    """Every path under ``folder`` with its mtime: any write shows."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def _read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~0o222)


def _writable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)


def _no_locks(cache: Path, engine: str) -> None:
    """The cache refuses new locks, for root too: the locks folder of ``engine`` is a file."""
    locks = cache / engine / "locks"
    for lock in locks.glob("*"):
        lock.unlink()
    locks.rmdir()
    locks.touch()


# where the cache is --------------------------------------------------------------------------


def test_cache_that_is_a_regular_file(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    path.write_text("not a folder")
    monkeypatch.setenv("HIERSTAN_CACHE_DIR", str(path))
    with pytest.raises(CacheError, match="set HIERSTAN_CACHE_DIR to a writable folder") as found:
        cache_dir()
    assert f"the compile cache {path} ($HIERSTAN_CACHE_DIR) is a file, not a folder" in str(found.value)
    assert path.read_text() == "not a folder"


@pytest.mark.parametrize("path", ["/proc/hierstan-cache", "/proc/self", "/sys/kernel"])
def test_cache_under_proc_or_sys(monkeypatch, path):
    monkeypatch.setenv("HIERSTAN_CACHE_DIR", path)
    with pytest.raises(CacheError, match=f"{path} .*lies under /(proc|sys), a virtual file system"):
        cache_dir()


def test_cache_that_cannot_be_created(tmp_path, monkeypatch):
    (tmp_path / "a file").touch()
    path = tmp_path / "a file" / "cache"
    monkeypatch.setenv("HIERSTAN_CACHE_DIR", str(path))
    with pytest.raises(CacheError, match=r"cannot be created \(Not a directory\); set HIERSTAN_CACHE_DIR"):
        cache_dir()


def test_read_only_cache_refuses_a_lock_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("HIERSTAN_CACHE_DIR", str(tmp_path))

    def refused_at_once():
        start = time.monotonic()
        with pytest.raises(CacheError, match=rf"compile cache {tmp_path}, which cannot be written "
                                             r"\(Permission denied"):
            with compile_lock("native", "key", "tiny"):
                pass
        assert time.monotonic() - start < 5

    tmp_path.chmod(0o555)
    try:
        where_modes_bind(refused_at_once)
    finally:
        tmp_path.chmod(0o755)


def test_unwritable_lock_folder_fails_at_once_for_root_too(tmp_path, monkeypatch):
    # filelock retries some failures (a missing folder) for ever: compile_lock must not wait
    monkeypatch.setenv("HIERSTAN_CACHE_DIR", str(tmp_path))
    (tmp_path / "native").touch()
    start = time.monotonic()
    with pytest.raises(CacheError, match="tiny must be compiled into the compile cache .* cannot be written"):
        with compile_lock("native", "key", "tiny"):
            pass
    assert time.monotonic() - start < 5


# a prebuilt, read-only cache: native engine (build faked) ----------------------------------------



def test_prebuilt_native_program_needs_no_lock(fake_native, monkeypatch):
    cache, runs = fake_native
    exe, built = native_build.executable(TINY)
    assert built and exe.read_bytes() == b"built by linking tiny"
    assert "compiling tiny" in runs and "compiling hierstan's Stan driver" in runs
    before = _tree(cache)

    def no_lock(*args, **kwargs):
        raise AssertionError("a lock was taken for a program already built")

    monkeypatch.setattr(native_build, "compile_lock", no_lock)
    runs.clear()
    assert native_build.executable(TINY) == (exe, False)
    assert runs == [] and _tree(cache) == before


def test_locks_refused_prebuilt_program_served_new_one_named(fake_native):
    cache, runs = fake_native
    exe, _ = native_build.executable(TINY)
    _no_locks(cache, "native")
    before = _tree(cache)
    assert native_build.executable(TINY) == (exe, False)
    assert _tree(cache) == before
    with pytest.raises(CacheError) as found:
        native_build.executable(OTHER)
    message = str(found.value)
    assert message.startswith(f"other must be compiled into the compile cache {cache}, which cannot be "
                              "written")
    assert "set HIERSTAN_CACHE_DIR to a writable folder" in message
    assert _tree(cache) == before


def test_read_only_native_cache(fake_native):
    cache, runs = fake_native
    exe, _ = native_build.executable(TINY)
    before = _tree(cache)

    def serves_tiny_refuses_other():
        assert native_build.executable(TINY) == (exe, False)
        with pytest.raises(CacheError, match=r"other must be compiled .* \(Permission denied"):
            native_build.executable(OTHER)
        assert _tree(cache) == before

    _read_only(cache)
    try:
        where_modes_bind(serves_tiny_refuses_other)
    finally:
        _writable(cache)


def test_damaged_entry_is_not_trusted_without_a_lock(fake_native):
    cache, runs = fake_native
    exe, _ = native_build.executable(TINY)
    exe.write_bytes(b"cut short")
    runs.clear()
    again, built = native_build.executable(TINY)
    assert built and again.read_bytes() == b"built by linking tiny" and "compiling tiny" in runs
    assert not list(exe.parent.parent.glob(".*"))  # no build folder left behind


# a prebuilt, read-only cache: CmdStan engine (cmdstanpy faked) ----------------------------------



def _sample(program):
    from hierstan.engines import SamplerSettings

    with pytest.raises(SamplingError, match="CmdStan failed while sampling"):
        CmdStanEngine().sample(program, {}, SamplerSettings(chains=1, draws=1, warmup=1, progress=False))


def test_prebuilt_cmdstan_program_needs_no_lock(fake_cmdstan):
    cache, calls = fake_cmdstan
    _sample(TINY)
    assert calls == ["compile"]
    [manifest] = cache.glob(f"cmdstan/*/{MANIFEST}")
    _no_locks(cache, "cmdstan")
    before = _tree(cache)
    calls.clear()
    _sample(TINY)
    assert calls == ["load"] and _tree(cache) == before
    with pytest.raises(CacheError, match=f"other must be compiled into the compile cache {cache}"):
        _sample(OTHER)


def test_cmdstan_executable_without_manifest_is_rebuilt(fake_cmdstan):
    # a killed build may leave a partial executable: only the manifest, written last, marks it whole
    cache, calls = fake_cmdstan
    _sample(TINY)
    [manifest] = cache.glob(f"cmdstan/*/{MANIFEST}")
    manifest.unlink()
    calls.clear()
    _sample(TINY)
    assert calls == ["compile"] and manifest.exists()


# the real thing --------------------------------------------------------------------------------


FIT_TINY = """
from hierstan.engines import NativeEngine, SamplerSettings
from hierstan.programs import Program
raw = NativeEngine().sample(Program("tiny", "parameters { real x; } model { x ~ normal(0, 1); }\\n"), {},
                            SamplerSettings(chains=1, draws=100, warmup=100, seed=1, progress=False))
print(int(raw.compiled_now), raw.variables["x"].shape)
"""


@pytest.mark.slow
def test_read_only_prebuilt_cache_end_to_end(tmp_path):
    """Compile into a fresh cache, make it unwritable (locks refused, and read-only), then fit
    from it in a new process: no compile, no write."""
    cache = tmp_path / "cache"
    env = {**os.environ, "HIERSTAN_CACHE_DIR": str(cache), "HIERSTAN_ENGINE": "native",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    first = subprocess.run([sys.executable, "-c", FIT_TINY], capture_output=True, text=True, env=env,
                           timeout=1200)
    assert first.returncode == 0 and first.stdout.split()[0] == "1", first.stderr[-2000:]
    _no_locks(cache, "native")
    before = _tree(cache)

    def fits_without_a_compile_or_a_write():
        again = subprocess.run([sys.executable, "-c", FIT_TINY], capture_output=True, text=True, env=env,
                               timeout=600)
        assert again.returncode == 0, again.stderr[-2000:]
        assert again.stdout.split()[0] == "0"
        assert _tree(cache) == before

    _read_only(cache)
    try:
        where_modes_bind(fits_without_a_compile_or_a_write)
    finally:
        _writable(cache)
