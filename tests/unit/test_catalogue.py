"""docs/models.md against the code: sections, variants, parameterizations, prior values and
Stan programs (no compilation)."""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

from hierstan.models import FAMILIES

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "docs" / "models.md"
STAN_MODELS = ROOT / "stan_models"

# "## §3 G-group linear regression (`multigroup`)": section number and family name
HEADING = re.compile(r"^## §(\d+) .*\(`(\w+)`\)[ \t]*$", re.MULTILINE)
# "Variants: `a`, `b` (default `a`)" and the same for Parameterizations
CHOICES = re.compile(r"^(Variants|Parameterizations): (`\w+`(?:, `\w+`)*) \(default `(\w+)`\)[ \t]*$")
CITATION = re.compile(r"docs/models\.md §(\d+)")
PROGRAM = re.compile(r"[\w/]+\.stan\b")


@dataclass
class Section:
    number: int
    family: str
    text: str
    # "Variants" / "Parameterizations" -> (names in documented order, default)
    choices: dict[str, tuple[list[str], str]] = field(default_factory=dict)


def parse(text: str) -> list[Section]:
    """The numbered family sections of the catalogue, each up to the next level-2 heading."""
    sections = []
    for match in HEADING.finditer(text):
        following = re.search(r"^## ", text[match.end():], re.MULTILINE)
        end = match.end() + following.start() if following else len(text)
        section = Section(int(match.group(1)), match.group(2), text[match.start():end])
        for line in section.text.splitlines():
            if not line.startswith(("Variants:", "Parameterizations:")):
                continue
            found = CHOICES.match(line)
            assert found, f"§{section.number}: malformed line {line!r}"
            kind, names, default = found.groups()
            assert kind not in section.choices, f"§{section.number}: two {kind} lines"
            section.choices[kind] = (re.findall(r"`(\w+)`", names), default)
        sections.append(section)
    return sections


@cache
def catalogue() -> tuple[str, dict[str, Section]]:
    assert CATALOGUE.is_file(), f"{CATALOGUE} is missing"
    text = CATALOGUE.read_text(encoding="utf-8")
    sections = parse(text)
    by_family = {s.family: s for s in sections}
    assert len(by_family) == len(sections), "a family has two sections"
    return text, by_family


def section(family: str) -> Section:
    sections = catalogue()[1]
    assert family in sections, f"docs/models.md has no section for family {family!r}"
    return sections[family]


def module_of(family: str) -> ModuleType:
    """The module ``hierstan.models.<family>``, whether FAMILIES holds modules or declarations."""
    entry = FAMILIES[family]
    return entry if isinstance(entry, ModuleType) else importlib.import_module(f"hierstan.models.{family}")


def signature_default(module: ModuleType, argument: str):
    parameters = inspect.signature(module.stan_data).parameters
    assert argument in parameters, f"{module.__name__}.stan_data has no {argument!r} argument"
    return parameters[argument].default


def test_every_family_has_a_section_and_every_section_a_family():
    sections = catalogue()[1]
    assert set(sections) == set(FAMILIES)
    numbers = sorted(s.number for s in sections.values())
    assert numbers == list(range(1, len(numbers) + 1)), f"sections are not numbered 1..n: {numbers}"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_module_cites_its_own_section(family):
    module = module_of(family)
    cited = {int(n) for n in CITATION.findall(module.__doc__ or "")}
    assert cited == {section(family).number}, f"{module.__name__} cites §{sorted(cited)}"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_documented_variants_match_the_module(family):
    module = module_of(family)
    entry = section(family).choices.get("Variants")
    assert entry, f"§{section(family).number} has no 'Variants:' line"
    names, default = entry
    assert len(names) == len(set(names)), f"{family}: a variant is listed twice: {names}"
    assert set(names) == set(module.VARIANTS), (
        f"{family}: documented {sorted(names)}, module has {sorted(module.VARIANTS)}")
    assert default == signature_default(module, "variant"), (
        f"{family}: documented default {default!r}, stan_data's is {signature_default(module, 'variant')!r}")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_documented_parameterizations_match_the_module(family):
    module = module_of(family)
    entry = section(family).choices.get("Parameterizations")
    if not hasattr(module, "PARAMETERIZATIONS"):
        assert entry is None, f"{family} has no PARAMETERIZATIONS, but the catalogue lists some"
        return
    assert entry, f"§{section(family).number} has no 'Parameterizations:' line"
    names, default = entry
    assert len(names) == len(set(names)), f"{family}: a parameterization is listed twice: {names}"
    assert set(names) == set(module.PARAMETERIZATIONS)
    actual = signature_default(module, "parameterization")
    if actual is None:  # chosen inside stan_data (multigroup): what the default call records
        actual = module.stan_data().attrs["parameterization"]
    assert default == actual, f"{family}: documented default {default!r}, the code's is {actual!r}"


def _documented_values(text: str, name: str) -> set[float]:
    return {round(float(v), 12) for v in re.findall(rf"`{re.escape(name)}`\s*=\s*(-?\d+(?:\.\d+)?)", text)}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_documented_prior_values_match_the_module(family):
    """Every PRIORS setting appears as "`name` = value" with the code's value(s); a family with
    per-variant priors (a dict of dicts) must show each value any variant uses."""
    priors = module_of(family).PRIORS
    per_variant = all(isinstance(v, dict) for v in priors.values())
    expected: dict[str, set[float]] = {}
    for settings in priors.values() if per_variant else [priors]:
        for name, value in settings.items():
            expected.setdefault(name, set()).add(round(float(value), 12))
    text = section(family).text
    for name, values in expected.items():
        assert _documented_values(text, name) == values, (
            f"{family}: prior {name!r} is {sorted(values)} in the code, "
            f"{sorted(_documented_values(text, name))} in the catalogue")


def _owner(stem: str) -> str | None:
    """The family a program belongs to: the longest family name that prefixes it."""
    owners = [f for f in FAMILIES if stem == f or stem.startswith(f + "_")]
    return max(owners, key=len) if owners else None


def test_every_stan_program_is_catalogued_in_its_family_section():
    programs = sorted(STAN_MODELS.glob("*.stan"))
    assert programs, f"no Stan programs in {STAN_MODELS}"
    for path in programs:
        family = _owner(path.stem)
        assert family, f"{path.name} belongs to no family"
        assert path.name in section(family).text, (
            f"{path.name} is not named in §{section(family).number} ({family})")
        # a program citing a section must be named in that section
        for number in {int(n) for n in CITATION.findall(path.read_text(encoding="utf-8"))}:
            assert number == section(family).number, f"{path.name} cites §{number}"


def test_every_program_named_in_the_catalogue_exists():
    text = catalogue()[0]
    named = set(PROGRAM.findall(text))
    assert named, "docs/models.md names no Stan program"
    for name in named:
        candidates = [ROOT / name, STAN_MODELS / name, STAN_MODELS / "include" / name]
        assert any(p.is_file() for p in candidates), f"docs/models.md names {name}, which does not exist"
