"""Exceptions raised by hierstan, each with a message a user can act on."""


class HierstanError(Exception):
    """Base class of every hierstan error."""


class DataError(HierstanError, ValueError):
    """The data or prior settings given to a model are unusable."""


class UnknownNameError(HierstanError, ValueError):
    """A model, variant or engine name that hierstan does not know."""


class EngineUnavailableError(HierstanError, RuntimeError):
    """The requested Stan engine is not installed on this machine."""


class DataWarning(UserWarning):
    """Data hierstan could use only in part (e.g. rows dropped for a missing covariate), with counts."""


class SamplingError(HierstanError, RuntimeError):
    """Stan failed to compile or to sample."""


class CacheError(HierstanError, OSError):
    """The compile cache (``$HIERSTAN_CACHE_DIR``) cannot be used: not a folder, or not writable
    where a program must be compiled into it."""


class ClusterError(HierstanError, RuntimeError):
    """The Dask cluster running many fits (SBC, K-fold) was lost mid-run: the records written so
    far are kept, and a rerun with the same folder resumes."""


class DiskFullError(HierstanError, OSError):
    """A file hierstan writes (a result, a record, ``--out``) found no space left on its file
    system; what was written before is kept whole, and nothing half-written is left."""


def check_choice(kind: str, value: str, choices) -> str:
    """Return ``value`` if it is one of ``choices``, else raise UnknownNameError."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise UnknownNameError(f"unknown {kind} {value!r}; choose one of: {', '.join(choices)}")
    return value


def warn_user(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` attributed to the first caller outside hierstan: the user's line, however
    deep inside hierstan the problem is found."""
    import os
    import sys
    import warnings

    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level + 1)
