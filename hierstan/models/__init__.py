"""The model families of MODELS.md, one module each."""

from __future__ import annotations

from types import ModuleType

from ..errors import check_choice
from . import eight_schools, exam, mathtest, multigroup, radon, thai

FAMILIES: dict[str, ModuleType] = {
    module.FAMILY: module for module in (eight_schools, radon, multigroup, thai, exam, mathtest)
}


def get_family(name: str) -> ModuleType:
    """The family module called ``name`` (dashes and underscores both accepted)."""
    return FAMILIES[check_choice("model", name.replace("-", "_"), FAMILIES)]
