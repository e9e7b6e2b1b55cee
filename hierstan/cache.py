"""Where compiled programs are kept, and the lock that keeps concurrent compiles apart.

A cache may be read-only (prebuilt for a team, or baked into an image): an entry that is
complete (its manifest matches its file, see :func:`trusted`) is used without a lock or any
write. A lock, and so a writable cache, is needed only to build an entry. Every entry is
published whole (built in a temporary folder, manifest written last, renamed into place), so
a reader that finds a trusted entry needs no lock to use it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import filelock
import platformdirs

from .errors import CacheError

CACHE_ENV = "HIERSTAN_CACHE_DIR"
MANIFEST = "manifest.json"
_VIRTUAL = (Path("/proc"), Path("/sys"))  # file systems of the kernel's, which hold no files of ours
_FIX = f"set {CACHE_ENV} to a writable folder"


def cache_dir() -> Path:
    """The compile cache: ``$HIERSTAN_CACHE_DIR`` if set, else the user's cache directory.

    Made if missing. It need not be writable (see the module's doc); a path that cannot be a
    folder of ours raises :class:`CacheError` naming it.
    """
    override = os.environ.get(CACHE_ENV)
    path = Path(override).expanduser() if override else Path(platformdirs.user_cache_dir("hierstan"))
    origin = f" (${CACHE_ENV})" if override else ""
    real = Path(os.path.realpath(path))
    for virtual in _VIRTUAL:
        if real == virtual or virtual in real.parents:
            raise CacheError(f"the compile cache {path}{origin} lies under {virtual}, a virtual file "
                             f"system that cannot hold files; {_FIX}")
    if path.is_dir():
        return path
    if path.exists():
        raise CacheError(f"the compile cache {path}{origin} is a file, not a folder; {_FIX}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename and str(exc.filename) != str(path) else ""
        raise CacheError(f"the compile cache {path}{origin} cannot be created ({exc.strerror}{where}); "
                         f"{_FIX}") from exc
    return path


def cache_key(*parts: str) -> str:
    """A short, stable key for a compiled program (program text, engine, compile options)."""
    digest = hashlib.sha256("\0".join(parts).encode())
    return digest.hexdigest()[:20]


def not_writable(exc: OSError, what: str) -> CacheError:
    """The error for a cache that cannot take the build of ``what`` (a write failed with ``exc``)."""
    where = f"{exc.filename}" if exc.filename else str(cache_dir())
    return CacheError(f"{what} must be compiled into the compile cache {cache_dir()}, which cannot be "
                      f"written ({exc.strerror}: {where}); {_FIX} (a read-only cache serves only the "
                      "programs already built in it)")


@contextlib.contextmanager
def compile_lock(engine: str, key: str, what: str = "a program") -> Iterator[None]:
    """An inter-process lock held while one entry is built (``what`` names it in errors).

    Raises :class:`CacheError` at once when the cache is not writable: filelock itself would
    retry some of those failures (a missing folder) for ever.
    """
    lock_dir = cache_dir() / engine / "locks"
    path = lock_dir / f"{key}.lock"
    try:
        lock_dir.mkdir(parents=True, exist_ok=True)
        # 0o666 less the umask: a cache shared by a team takes everyone's locks
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o666))
    except OSError as exc:
        raise not_writable(exc, what) from exc
    with filelock.FileLock(str(path)):
        yield


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def trusted(entry: Path, filename: str, checksum: bool = True) -> bool:
    """The entry holds ``filename`` as its manifest recorded it (size, and checksum if asked):
    complete, so usable without a lock."""
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
        target = entry / filename
        if manifest["size"] != target.stat().st_size:
            return False
        return not checksum or manifest["sha256"] == sha256(target)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def manifest_of(target: Path) -> str:
    """The manifest text recording ``target`` as it is now."""
    return json.dumps({"size": target.stat().st_size, "sha256": sha256(target)})
