"""Where compiled programs are kept, and the lock that keeps concurrent compiles apart."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import filelock
import platformdirs

CACHE_ENV = "HIERSTAN_CACHE_DIR"


def cache_dir() -> Path:
    """The compile cache: ``$HIERSTAN_CACHE_DIR`` if set, else the user's cache directory."""
    override = os.environ.get(CACHE_ENV)
    path = Path(override).expanduser() if override else Path(platformdirs.user_cache_dir("hierstan"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_key(*parts: str) -> str:
    """A short, stable key for a compiled program (program text, engine, compile options)."""
    digest = hashlib.sha256("\0".join(parts).encode())
    return digest.hexdigest()[:20]


def compile_lock(engine: str, key: str) -> filelock.FileLock:
    """An inter-process lock held while one program is compiled or loaded from the cache."""
    lock_dir = cache_dir() / engine / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(str(lock_dir / f"{key}.lock"))
