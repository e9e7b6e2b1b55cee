"""Checks of read-only folders and unreadable files that bind for root too (CI runs as root).

Root reads and writes whatever a file's mode says through three capabilities: CAP_DAC_OVERRIDE,
CAP_DAC_READ_SEARCH and CAP_FOWNER. :func:`where_modes_bind` runs a check in a forked child that
has given them up (and so have the programs it starts): a root process without them meets file
modes as any user does. It stays root otherwise, so it still reaches the interpreter, the venv
and the repo wherever they are; the `nobody` account cannot where Python lives under /root (as
on the development machine, a pyenv build), and a clean clone may lie anywhere.
"""

from __future__ import annotations

import ctypes
import os
import traceback
from collections.abc import Callable

import pytest

# linux/capability.h and linux/prctl.h
FILE_CAPABILITIES = {"CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3}
_PR_CAPBSET_DROP = 24
_CAPABILITY_VERSION_3 = 0x20080522
_SKIP = 3  # the child's exit status when it could not give the capabilities up


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Sets(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


class _CannotGiveUp(Exception):
    pass


def where_modes_bind(check: Callable[[], None]) -> None:
    """Run ``check()`` where file modes bind: in this process unless it is root's, else in a
    forked child without root's file capabilities. What fails there fails the calling test; the
    test is skipped, saying why, where the capabilities cannot be given up."""
    if os.geteuid() != 0:
        check()
        return
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe and leave without running pytest's exit
        os.close(read_end)
        status, message = 0, ""
        try:
            _give_up_file_capabilities()
            check()
        except _CannotGiveUp as exc:
            status, message = _SKIP, str(exc)
        except BaseException:
            status, message = 1, traceback.format_exc()
        finally:
            os.write(write_end, message.encode())
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if status == _SKIP:
        pytest.skip(f"root here cannot give up its file capabilities: {message}")
    if status != 0:
        pytest.fail(f"run as root without {', '.join(FILE_CAPABILITIES)} (exit {status}):\n{message}",
                    pytrace=False)


def _give_up_file_capabilities() -> None:
    """Drop the file capabilities from this process and from what it will exec (the bounding set:
    an exec by root is granted what that set holds)."""
    libc = ctypes.CDLL(None, use_errno=True)

    def call(name: str, *args) -> None:
        if getattr(libc, name)(*args) != 0:
            raise _CannotGiveUp(f"{name} failed ({os.strerror(ctypes.get_errno())})")

    for number in FILE_CAPABILITIES.values():
        call("prctl", _PR_CAPBSET_DROP, number, 0, 0, 0)
    header, sets = _Header(_CAPABILITY_VERSION_3, 0), (_Sets * 2)()
    call("capget", ctypes.byref(header), sets)
    keep = ~sum(1 << number for number in FILE_CAPABILITIES.values())
    for name in ("effective", "permitted", "inheritable"):
        setattr(sets[0], name, getattr(sets[0], name) & keep)
    call("capset", ctypes.byref(header), sets)
