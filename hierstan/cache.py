"""Where compiled programs are kept, and the lock that keeps concurrent compiles apart.

A cache may be read-only (prebuilt for a team, or baked into an image): an entry that is
complete (its manifest matches its file, see :func:`trusted`) is used without a lock or any
write. A lock, and so a writable cache, is needed only to build an entry. Every entry is
published whole (built in a temporary folder, manifest written last, renamed into place), so
a reader that finds a trusted entry needs no lock to use it.

The cache holds executables hierstan runs, so an entry is trusted only where no one but the
user and root could have changed it (:func:`check_private`, as ssh's StrictModes treats keys):
a cache shared with others must be built by one account and made read-only to the rest, and
hierstan's own builds leave nothing in it writable by others, whatever the umask.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import filelock
import platformdirs

from .errors import CacheError

CACHE_ENV = "HIERSTAN_CACHE_DIR"
MANIFEST = "manifest.json"
_VIRTUAL = (Path("/proc"), Path("/sys"))  # file systems of the kernel's, which hold no files of ours
_FIX = f"set {CACHE_ENV} to a writable folder"
# the fix for a build that found the cache's disk full, in both engines' errors
FULL_FIX = f"free space there, or set {CACHE_ENV} to a folder with room"
_POSIX = hasattr(os, "geteuid")  # owners and modes to check; not on Windows


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
        _make_folders(path)
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename and str(exc.filename) != str(path) else ""
        raise CacheError(f"the compile cache {path}{origin} cannot be created ({exc.strerror}{where}); "
                         f"{_FIX}") from exc
    return path


def _make_folders(path: Path) -> None:
    """``mkdir -p`` with every new folder writable by its owner alone, whatever the umask:
    check_private would refuse a group- or world-writable one."""
    missing = [folder for folder in [path, *path.parents] if not folder.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o755, exist_ok=True)


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
    """An inter-process lock held while the entry ``<cache>/<engine>/<key>`` is built (``what``
    names it in errors). On release the entry is made writable by its owner alone: a build's
    files follow the umask, and 002 or 000 would leave them writable by others (the entry's
    folder is private while it is built: see the engines).

    Raises :class:`CacheError` at once when the cache is not writable: filelock itself would
    retry some of those failures (a missing folder) for ever; and when others could write in
    the cache (see :func:`check_private`): what is built there would not stay ours.
    """
    lock_dir = cache_dir() / engine / "locks"
    path = lock_dir / f"{key}.lock"
    try:
        _make_folders(lock_dir)
        # only the cache's owner builds in it (others' entries are refused): its locks are its own
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o644))
    except OSError as exc:
        raise not_writable(exc, what) from exc
    check_private(lock_dir.parent)
    with filelock.FileLock(str(path)):
        yield
        _seal(lock_dir.parent / key)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def trusted(entry: Path, filename: str, checksum: bool = True) -> bool:
    """The entry holds ``filename`` as its manifest recorded it (size, and checksum if asked):
    complete, so usable without a lock. A complete entry that others could have changed raises
    :class:`CacheError` (see :func:`check_private`): hierstan neither runs it nor builds over it."""
    if not _complete(entry, filename, checksum):
        return False
    check_private(entry / filename)
    return True


def _complete(entry: Path, filename: str, checksum: bool) -> bool:
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


def _seal(entry: Path) -> None:
    """Take group and others' write permission from ``entry`` and everything of ours in it."""
    if not _POSIX:
        return
    for folder, _, files in os.walk(entry):
        for path in [folder, *(os.path.join(folder, name) for name in files)]:
            info = os.lstat(path)
            if not stat.S_ISLNK(info.st_mode) and info.st_mode & 0o022 and info.st_uid == os.geteuid():
                os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o022)


# who may have written what hierstan runs ---------------------------------------------------------


def check_private(path: Path) -> None:
    """Raise :class:`CacheError` unless no one but the user and root could have changed
    ``path``, something of the compile cache that hierstan is about to run or build on.

    As ssh's StrictModes checks a key, the real path is checked from ``path`` up to ``/``: each
    part must be owned by the user or root, and writable neither by others nor by a group other
    than the user's own (a group whose only member is the user, as Debian's ssh allows). Above
    the cache, a folder writable by all with the sticky bit (``/tmp``) passes: no one can
    rename or delete there what is not theirs. A cache prebuilt by a team's account must
    therefore be owned by root, or each user keep a cache of their own.
    """
    if not _POSIX:
        return
    root = Path(os.path.realpath(cache_dir()))
    real = Path(os.path.realpath(path))
    for part in reversed([real, *real.parents]):  # from / down: the fix named covers what is below
        inside = part == root or root in part.parents
        fault = _fault(part, os.stat(part), inside)
        if fault:
            problem, fix = fault
            where = "" if inside else f", a folder above the compile cache {root},"
            raise CacheError(f"refusing to use {path} from the compile cache: {part}{where} {problem}, so "
                             "another user could replace the programs hierstan runs; fix: "
                             f"{fix}, or set {CACHE_ENV} to a folder of your own")


def _fault(path: Path, info: os.stat_result, in_cache: bool) -> tuple[str, str] | None:
    """What makes ``path`` changeable by another user, and the fix; None if nothing does."""
    mode = stat.S_IMODE(info.st_mode)
    found = f"(owner {_user_name(info.st_uid)}, mode {mode:04o})"
    recursive = "-R " if in_cache else ""  # never offer to change all of a folder above the cache
    if info.st_uid not in (os.geteuid(), 0):
        return (f"is owned by another user {found}, not by you or root",
                f"have root own it (as root: chown {recursive}root: {path})")
    if not in_cache and stat.S_ISDIR(info.st_mode) and mode & stat.S_ISVTX:
        return None
    if mode & 0o002:
        return f"is writable by every user {found}", f"chmod {recursive}go-w {path}"
    if mode & 0o020 and not _group_of_user_alone(info.st_gid):
        return (f"is writable by the group {_group_name(info.st_gid)} {found}",
                f"chmod {recursive}go-w {path}")
    return None


@functools.cache
def _group_of_user_alone(gid: int) -> bool:
    """The group has the user as its only member (a user private group, umask 002's setting)."""
    import grp
    import pwd

    try:
        group = grp.getgrgid(gid)
        user = pwd.getpwuid(os.geteuid())
    except KeyError:
        return False
    if set(group.gr_mem) - {user.pw_name}:
        return False
    if user.pw_gid != gid and user.pw_name not in group.gr_mem:
        return False
    return all(other.pw_uid == user.pw_uid for other in pwd.getpwall() if other.pw_gid == gid)


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return f"gid {gid}"
