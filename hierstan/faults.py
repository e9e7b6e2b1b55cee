"""What the machine did to a run, in words a user can act on: a full disk (ENOSPC, a spent
quota), a signal that killed a sampler, and the memory there was."""

import errno
import os
import signal

from .errors import DiskFullError, HierstanError

FULL_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# the words of strerror(ENOSPC) and strerror(EDQUOT) in a tool's output (a compiler's, make's)
FULL_DISK_WORDS = ("No space left on device", "Disk quota exceeded")


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in FULL_DISK_ERRNOS


def full_disk_line(text: str) -> str | None:
    """The first line of a tool's output that says its disk was full, or None."""
    for line in text.splitlines():
        if any(words in line for words in FULL_DISK_WORDS):
            return line.strip()
    return None


def bytes_free(path) -> tuple[int, int] | None:
    """(free, total) bytes of the file system holding ``path`` (its nearest existing folder), or
    None where that cannot be told."""
    folder = os.path.abspath(path)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    try:
        found = os.statvfs(folder)
    except OSError:
        return None
    return found.f_bavail * found.f_frsize, found.f_blocks * found.f_frsize


def free_space(path) -> str:
    """The space left on the file system holding ``path``, e.g. ``12.0 MB free of 64.0 MB``;
    empty where that cannot be told."""
    found = bytes_free(path)
    return f"{size_text(found[0])} free of {size_text(found[1])}" if found else ""


def size_text(count: float) -> str:
    """A count of bytes for people: ``512 bytes``, ``61.4 kB``, ``12.0 MB``, ``25.3 GB``."""
    for unit in ("bytes", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    return ""


def disk_full(path, what: str, fix: str, kind: type[HierstanError] = DiskFullError,
              said: str = "") -> HierstanError:
    """The error for ``what`` (e.g. "the --out file") that could not be written at ``path``
    because its file system is full (or the user's quota is spent): where, how full, and ``fix``.
    ``said``: the failing tool's own line, when a tool (not Python) hit the full disk."""
    space = free_space(path)
    where = os.path.dirname(os.path.abspath(path)) or "/"
    told = f" ({said})" if said else ""
    return kind(f"cannot write {what} {path}: no space left on the file system of {where}"
                f"{f' ({space})' if space else ''}{told}; {fix}")


def raise_if_disk_full(exc: BaseException, path, what: str, fix: str,
                       kind: type[HierstanError] = DiskFullError) -> None:
    """Raise :func:`disk_full`'s error from ``exc`` when ``exc`` is ENOSPC or EDQUOT; else return,
    for the caller to re-raise ``exc`` as it was."""
    if is_disk_full(exc):
        raise disk_full(path, what, fix, kind) from exc


# why a signal usually reaches a sampler (see killed_by)
_SIGNALS = {
    signal.SIGKILL: "most often the kernel's out-of-memory killer (`dmesg` or `journalctl -k` then "
                    "says \"Out of memory: Killed process\"), else `kill -9` or a job scheduler's limit",
    signal.SIGTERM: "a request to stop: `kill`, a job scheduler's time limit, or a shutdown",
    signal.SIGHUP: "the terminal or session it ran in was closed",
    signal.SIGSEGV: "a crash inside the sampler: please report it, with the program and data",
    signal.SIGBUS: "a crash inside the sampler, or a file it had mapped was cut short",
    signal.SIGABRT: "the sampler aborted (a failed check or an uncaught error in Stan's C++)",
    signal.SIGXCPU: "the CPU-time limit (`ulimit -t`) was reached",
    signal.SIGXFSZ: "the file-size limit (`ulimit -f`) was reached while writing the draws",
}


def killed_by(number: int) -> str:
    """``signal 9 (SIGKILL): most often ...``: a signal that ended a process, and what usually
    sends it."""
    try:
        sent = signal.Signals(number)
    except ValueError:
        return f"signal {number}"
    why = _SIGNALS.get(sent)
    return f"signal {number} ({sent.name})" + (f": {why}" if why else "")


def machine_memory() -> str:
    """``this machine has 24.7 GB of memory (23.8 GB available now)``, and a container's limit
    (its control group's) where it is lower."""
    found = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                name, _, value = line.partition(":")
                found[name] = int(value.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return "this machine's memory could not be read"
    total = found.get("MemTotal", 0)
    available = size_text(found.get("MemAvailable", 0))
    text = f"this machine has {size_text(total)} of memory ({available} available now)"
    limit = _control_group_limit()
    if limit and limit < total:
        text += f", and this process's control group a limit of {size_text(limit)}"
    return text


def _control_group_limit() -> int | None:
    """The memory limit of a container (cgroup v2, else v1), or None."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                return int(f.read().strip())
        except (OSError, ValueError):  # missing, or "max": no limit
            continue
    return None
