"""Locate the shipped Stan programs and data, and turn a program into self-contained text.

In an installed wheel the top-level ``stan_models/`` and ``data/`` live inside the package;
in a source checkout they sit next to it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .errors import check_choice

_PACKAGE = Path(__file__).resolve().parent
# a declaration: [array[...]] type[<...>][[...]] name followed by ; or =
_DECLARED = re.compile(r"^\s*(?:array\[[^\]]*\]\s*)?[a-z_]+(?:<[^;>]*>)?(?:\[[^\]]*\])?\s+(\w+)\s*[;=]",
                       re.MULTILINE)
_INCLUDE = re.compile(r"^[ \t]*#include[ \t]+[<\"]?([^>\"\s]+)[>\"]?[ \t]*$", re.MULTILINE)
# A program asks for stanc options on a comment line of its own, `// hierstan-stanc: --O1`; both
# engines pass them to stanc (the native build on stanc's command line, CmdStan through cmdstanpy's
# stanc_options), so a program compiles alike on either and their draws stay identical. Only these
# are accepted: --O1 is Stan's tested optimisation level (struct-of-arrays autodiff among others).
STANC_OPTIONS = ("--O1",)
_STANC_MARKER = re.compile(r"^[ \t]*//[ \t]*hierstan-stanc:(.*)$", re.MULTILINE)


def resource_dir(name: str) -> Path:
    """Directory of the shipped ``stan_models`` or ``data``, installed or in a checkout."""
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"hierstan's {name}/ directory is missing; reinstall the package")


def data_file(filename: str) -> Path:
    """Path of a dataset shipped with hierstan (see data/README.md)."""
    return resource_dir("data") / filename


@dataclass(frozen=True)
class Program:
    """A Stan program with its ``#include`` lines expanded: one text, so the compile
    cache's key covers the included files too."""

    name: str
    code: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.code.encode()).hexdigest()

    def block(self, name: str) -> str:
        """The body of the program's top-level block ``name`` ("data", "generated quantities",
        ...), empty if it has none."""
        found = re.search(rf"^{name}\s*{{", self.code, re.MULTILINE)
        if not found:
            return ""
        depth = 1
        for end in range(found.end(), len(self.code)):
            depth += {"{": 1, "}": -1}.get(self.code[end], 0)
            if depth == 0:
                return self.code[found.end():end]
        raise ValueError(f"{self.name}: unclosed {name} block")

    @property
    def stanc_options(self) -> tuple[str, ...]:
        """The stanc options the program's ``// hierstan-stanc:`` lines ask for (see STANC_OPTIONS)."""
        options = tuple(dict.fromkeys(o for found in _STANC_MARKER.findall(self.code) for o in found.split()))
        unknown = [o for o in options if o not in STANC_OPTIONS]
        if unknown:
            raise ValueError(f"{self.name}: unsupported stanc option(s) {unknown} in a hierstan-stanc "
                             f"line; supported: {list(STANC_OPTIONS)}")
        return options

    @property
    def outputs(self) -> set[str]:
        """Names declared at the top level of the blocks whose values are written out
        (parameters, transformed parameters, generated quantities): what a draw may be named.
        Locals of nested braces are not written out, so a column may share their names."""
        blocks = ("parameters", "transformed parameters", "generated quantities")
        return {name for block in blocks for name in _DECLARED.findall(_top_level(self.block(block)))}


def _top_level(code: str) -> str:
    """``code`` without the text inside its braces (comments are kept: they declare nothing)."""
    kept, depth = [], 0
    for char in code:
        if char == "}":
            depth -= 1
        if depth == 0:
            kept.append(char)
        if char == "{":
            depth += 1
    return "".join(kept)


def program_names() -> list[str]:
    return sorted(p.stem for p in resource_dir("stan_models").glob("*.stan"))


@cache
def load_program(name: str) -> Program:
    """The shipped program ``stan_models/<name>.stan`` with includes inlined."""
    check_choice("Stan program", name, program_names())
    root = resource_dir("stan_models")
    return Program(name, _expand((root / f"{name}.stan").read_text(), root / "include"))


def _expand(code: str, include_dir: Path, seen: tuple[str, ...] = ()) -> str:
    def inline(match: re.Match) -> str:
        filename = match.group(1)
        if filename in seen:
            raise ValueError(f"#include cycle through {filename}")
        text = (include_dir / filename).read_text()
        return _expand(text, include_dir, seen + (filename,)).rstrip("\n")

    return _INCLUDE.sub(inline, code)
