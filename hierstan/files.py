"""Files hierstan writes for the user (``--out``, ``--summary``, results, SBC and K-fold records),
each written whole or not at all: into a temporary file beside it, then renamed into place.

A failed or interrupted write (Ctrl-C, a full disk) leaves the earlier file, if any, as it was and
no temporary behind; a full disk (or a spent quota) raises :class:`DiskFullError` naming the file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .faults import disk_full, is_disk_full, raise_if_disk_full

FREE_SPACE = "free space there (or write elsewhere) and run it again"


def write_whole(path: str | Path, write: Callable[[Path], Any], what: str = "the file",
                fix: str = FREE_SPACE) -> Path:
    """``write(temporary)`` a file beside ``path``, then rename it to ``path``. ``what`` and
    ``fix`` word the error of a full disk ("cannot write {what} {path}: no space left ...; {fix}")."""
    target = Path(os.path.realpath(path))  # through a symlink, as an ordinary write would go
    try:
        # the temporary ends in the target's name: pandas, xarray and matplotlib pick the format
        # (and compression) by the suffix
        fd, name = tempfile.mkstemp(prefix=".hierstan-", suffix="-" + target.name[-100:], dir=target.parent)
    except OSError as exc:
        raise_if_disk_full(exc, path, what, fix)
        raise
    os.close(fd)
    temporary = Path(name)
    try:
        write(temporary)
        os.chmod(temporary, _mode_for(target))
        with temporary.open("rb") as f:
            os.fsync(f.fileno())  # on disk before the rename: no empty file after a crash
        os.replace(temporary, target)
    except BaseException as exc:
        full = disk_full(path, what, fix) if is_disk_full(exc) else None  # how full, before the cleanup
        temporary.unlink(missing_ok=True)
        if full is not None:
            raise full from exc
        raise
    return Path(path)


def write_text(path: str | Path, text: str, what: str = "the file", fix: str = FREE_SPACE) -> Path:
    return write_whole(path, lambda temporary: temporary.write_text(text), what, fix)


def _mode_for(target: Path) -> int:
    """The target's permissions if it exists, else what a new file gets (0o666 less the umask):
    mkstemp's 0o600 would hide a result from the user's group."""
    if target.exists():
        return target.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def netcdf_bytes(idata: Any) -> bytes:
    """The InferenceData as the netCDF file ``idata.to_netcdf`` writes (groups, zlib compression),
    made in memory: HDF5 writing a file on a full disk raises from inside its close and then
    crashes the process (a segmentation fault seen with h5py 3.16), so the disk is written by
    Python only (:func:`write_whole`), at the cost of holding the file in memory while it is
    written."""
    tree = idata.to_datatree()
    encoding = {f"/{group}": {name: {"zlib": True} for name, values in tree[group].variables.items()
                              if values.dtype.kind in "biufcS"}
                for group in tree.children}
    return bytes(tree.to_netcdf(None, engine="h5netcdf", encoding=encoding))
