"""hierstan: validated hierarchical Bayesian models in Stan, returned as labelled InferenceData."""

import warnings
from importlib.metadata import PackageNotFoundError, version

# arviz 0.x announces its 1.x refactor on import (once a day: it keeps a stamp in the user's
# cache); hierstan pins 0.x, so the notice is noise here. Its text starts with a newline, and the
# message is matched from the start. Set before arviz is first imported: here, as every command,
# `python -m hierstan` and every Dask worker (unpickling a task imports hierstan) import this first.
warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing", category=FutureWarning)


from .diagnostics import DiagnosticReport, HierstanWarning, diagnose
from .engines import available_engines, get_engine
from .errors import (
    CacheError,
    ClusterError,
    DataError,
    DataWarning,
    DiskFullError,
    EngineUnavailableError,
    HierstanError,
    SamplingError,
    UnknownNameError,
)
from .fitting import sample
from .kfold import kfold
from .models import FAMILIES, eight_schools, exam, get_family, glmm, mathtest, multigroup, radon, thai
from .post_estimation import group_table, predict
from .sbc import sbc

try:
    __version__ = version("hierstan")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "FAMILIES", "CacheError", "ClusterError", "DataError", "DataWarning", "DiagnosticReport", "DiskFullError",
    "EngineUnavailableError",
    "HierstanError", "HierstanWarning", "SamplingError", "UnknownNameError", "available_engines", "diagnose",
    "eight_schools", "exam", "get_engine", "get_family", "glmm", "group_table", "mathtest", "multigroup",
    "predict", "kfold", "radon", "sample", "sbc", "thai",
]
