"""The model families of docs/models.md, one module each; each declares a :class:`Family`."""

from __future__ import annotations

from ..errors import check_choice
from ..family import Family
from . import eight_schools, exam, glmm, mathtest, multigroup, radon, thai

FAMILIES: dict[str, Family] = {
    module.family.name: module.family
    for module in (eight_schools, radon, multigroup, thai, exam, mathtest, glmm)
}


def get_family(name: str) -> Family:
    """The family called ``name`` (dashes and underscores both accepted)."""
    return FAMILIES[check_choice("model", name.replace("-", "_"), FAMILIES)]
