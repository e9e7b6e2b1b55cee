"""Fixtures shared by the unit and integration tests."""

import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from hierstan.engines import cmdstan_engine, native_build
from hierstan.engines.cmdstan_engine import CmdStanEngine
from hierstan.engines.native_build import Toolchain


@pytest.fixture
def small_disk(tmp_path):
    """A 64 kB tmpfs at ``tmp_path/disk`` (a real full disk: ENOSPC from the kernel): ``.path``,
    and ``.resize("4m")`` to make room. Mode 0755: the compile cache refuses a world-writable
    folder above it."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")

    def resize(size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(disk)], check=True)

    try:
        yield SimpleNamespace(path=disk, resize=resize)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


class _Stop(Exception):
    """Raised by the fake model's sample: the engine got as far as sampling."""


@pytest.fixture
def fake_cmdstan(tmp_path, monkeypatch):
    """cmdstanpy faked, with a compile cache of the test's own: (cache folder, the calls made:
    "compile" or "load"); sampling raises, so the engine's SamplingError marks how far it got."""
    monkeypatch.setenv("HIERSTAN_CACHE_DIR", str(tmp_path / "cache"))
    calls = []

    class Model:
        def __init__(self, stan_file=None, exe_file=None):
            calls.append("load" if exe_file else "compile")
            if exe_file is None:
                Path(stan_file).with_suffix("").write_bytes(b"cmdstan executable")

        def sample(self, **kwargs):
            raise _Stop

    class FakeCmdStanPy:
        CmdStanModel = Model
        __version__ = "0"

        @staticmethod
        def cmdstan_path():
            return str(tmp_path / "cmdstan")

    monkeypatch.setattr(cmdstan_engine, "_cmdstanpy", lambda: FakeCmdStanPy)
    monkeypatch.setattr(CmdStanEngine, "version", classmethod(lambda cls: "cmdstan 0 (fake)"))
    return tmp_path / "cache", calls

@pytest.fixture
def fake_native(tmp_path, monkeypatch):
    """native_build with a fake toolchain whose commands write their outputs as placeholder
    bytes; the cache is ``tmp_path/shared/cache``, so that a folder above it can be tested."""
    cache = tmp_path / "shared" / "cache"
    monkeypatch.setenv("HIERSTAN_CACHE_DIR", str(cache))
    tools = Toolchain(tmp_path / "stan", "0.0", "c++", "fake c++ 1.0")
    monkeypatch.setattr(native_build, "toolchain", lambda: tools)
    runs = []

    def run(command, log, what):
        runs.append(what)
        log.write_text("faked\n")
        for i, arg in enumerate(command):
            if arg == "-o":
                Path(command[i + 1]).parent.mkdir(parents=True, exist_ok=True)
                Path(command[i + 1]).write_bytes(f"built by {what}".encode())
            elif str(arg).startswith("--o="):
                Path(str(arg)[4:]).write_text("// generated\n")

    monkeypatch.setattr(native_build, "_run", run)
    return cache, runs
