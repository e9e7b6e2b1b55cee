"""Fixtures shared by the unit and integration tests."""

import os
import subprocess
from types import SimpleNamespace

import pytest


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
