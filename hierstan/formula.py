"""lme4-style formulas to design data, parsed by ``formulae`` (the parser bambi uses).

``y ~ x + C(p) + (1 + x | g) + (1 | g:h) + offset(o)`` gives the fixed-effects matrix (with its
column labels, ``C(p)[b]``), the offset, and the group terms block by block: one block per
parenthesised ``( ... | factor)``, whose terms are correlated; ``(1 | g) + (0 + x | g)`` gives two
independent blocks on one factor. Levels are ordered as everywhere in hierstan
(:func:`hierstan.validation.group_codes`); the arrays returned are copies the caller owns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from formulae import design_matrices
from formulae.expr import Binary, Call, Grouping, QuotedName, Unary, Variable
from formulae.parser import Parser
from formulae.resolver import Resolver
from formulae.scanner import Scanner

from .errors import DataError
from .validation import group_codes, label_column, listed, numeric_column, require_columns

# the functions a formula may call: formulae's C (categories) and offset, and these, which act
# row by row (data-dependent ones like scale() would code new rows differently from the fit's)
FUNCTIONS = {"log": np.log, "log1p": np.log1p, "exp": np.exp, "sqrt": np.sqrt}
KNOWN_CALLS = ("C", "offset", *FUNCTIONS)


@dataclass(frozen=True)
class Block:
    """Correlated group effects: one ``( ... | factor)`` of the formula."""

    factor: str  # as formulae names it: "school", "district:school"
    terms: tuple[str, ...]  # "Intercept", "hours", "C(program)[b]"
    levels: tuple[str, ...]
    codes: np.ndarray  # each row's level, 0-based
    values: np.ndarray  # rows x terms: what each effect multiplies (1 for an intercept)


@dataclass(frozen=True)
class Design:
    formula: str
    response: str
    y: np.ndarray
    fixed: tuple[str, ...]  # labels of X's columns, "Intercept" first where there is one
    X: np.ndarray
    offset: np.ndarray
    blocks: tuple[Block, ...]
    columns: tuple[str, ...]  # the data columns the formula uses, response first
    # each column the fixed effects use as categories (text, or numbers under C()): its levels
    categories: dict[str, list]

    @property
    def factors(self) -> tuple[str, ...]:
        """The grouping factors, each once, in the formula's order."""
        return tuple(dict.fromkeys(block.factor for block in self.blocks))


def parse(formula: object, df: pd.DataFrame, what: str) -> Design:
    """Check ``formula`` against ``df`` and build its design; every refusal is a DataError that
    names the term or column."""
    if not isinstance(formula, str) or "~" not in formula:
        raise DataError(f"{what}: formula must be text like 'y ~ x + (1 | g)', got {formula!r}")
    tree = _syntax(formula, what)
    if not isinstance(tree, Binary) or tree.operator.lexeme != "~":
        raise DataError(f"{what}: formula {formula!r} must have one '~' between outcome and terms")
    if not isinstance(tree.left, (Variable, QuotedName)):
        raise DataError(f"{what}: the outcome of formula {formula!r} must be one column, as written "
                        "(transform it in the DataFrame)")
    response = _name(tree.left)
    calls = sorted(set(_calls(tree.right)) - set(KNOWN_CALLS))
    if calls:
        raise DataError(f"{what}: formula {formula!r} calls {listed(calls)}; a formula may "
                        f"call {', '.join(KNOWN_CALLS)} (transform other columns in the DataFrame)")
    used = list(dict.fromkeys([response, *_variables(tree.right)]))
    require_columns(df, used, what)
    groupings = _groupings(tree.right, [])
    factors = {name for grouping in groupings for name in _variables(grouping.expression.right)}
    if response in _variables(tree.right):
        raise DataError(f"{what}: column {response!r} is the outcome and a term of formula {formula!r}; "
                        "the roles must be distinct columns")
    wrapped = _wrapped(tree.right)
    _check_columns(df, used, factors | wrapped, what)
    try:
        dm = design_matrices(formula, df, na_action="error", extra_namespace=FUNCTIONS)
    except DataError:
        raise
    except Exception as error:  # formulae's own errors say what failed, but not where
        raise DataError(f"{what}: formula {formula!r} cannot be evaluated on the data: "
                        f"{type(error).__name__}: {error}") from None
    y = numeric_column(df, response, what)
    fixed, X, offset = _fixed(dm, len(df))
    blocks = _blocks(dm, groupings, df, what)
    factors = {part for block in blocks for part in block.factor.split(":")}
    categorical = [c for c in used[1:] if c not in factors
                   and (c in wrapped or not pd.api.types.is_numeric_dtype(df[c]))]
    categories = {c: sorted(pd.unique(df[c]).tolist(), key=str) for c in categorical}
    return Design(formula, response, y, fixed, X, offset, blocks, tuple(used), categories)


def evaluate(formula: str, categories: dict[str, list], df: pd.DataFrame, what: str) -> Design:
    """The design of new rows (their outcome may be absent), coded as the fit's data were: a row
    for each level of every categorical column goes first, so that the treatment coding has the
    fit's reference levels whatever levels the new rows hold, and is then dropped."""
    unknown = {c: sorted(set(df[c]) - set(levels), key=str) for c, levels in categories.items()
               if c in df.columns}
    unknown = {c: v for c, v in unknown.items() if v}
    if unknown:
        column, values = next(iter(unknown.items()))
        raise DataError(f"{what}: column {column!r} holds {values[:5]}, which the fit's data did not; "
                        f"its fixed effects know {categories[column][:10]}")
    width = max((len(levels) for levels in categories.values()), default=0)
    template = df.iloc[[0] * width].copy()
    for column, levels in categories.items():
        if column in template.columns:
            template[column] = [levels[i % len(levels)] for i in range(width)]
    rows = pd.concat([template, df], ignore_index=True)
    response = _name(_syntax(formula, what).left)
    if response not in rows.columns:
        rows[response] = 0.0
    design = parse(formula, rows, what)
    blocks = tuple(Block(b.factor, b.terms, b.levels, b.codes[width:], b.values[width:])
                   for b in design.blocks)
    return Design(formula, response, design.y[width:], design.fixed, design.X[width:],
                  design.offset[width:], blocks, design.columns, categories)


def _syntax(formula: str, what: str):
    if not formula.partition("~")[0].strip():
        raise DataError(f"{what}: formula {formula!r} has no outcome; write it as 'y ~ x + (1 | g)'")
    try:
        return Parser(Scanner(formula).scan()).parse()
    except Exception as error:
        raise DataError(f"{what}: formula {formula!r} does not parse: {error}") from None


def _name(node) -> str:
    return node.expression.lexeme.strip("`") if isinstance(node, QuotedName) else node.name.lexeme


def _parts(node) -> list:
    """The sub-expressions of a formula expression (a call's arguments, not its callee)."""
    if isinstance(node, Binary):
        return [node.left, node.right]
    if isinstance(node, Unary):
        return [node.right]
    if isinstance(node, Grouping):
        return [node.expression]
    if isinstance(node, Call):
        return list(node.args)
    return []


def _walk(node):
    """The expression and all its sub-expressions, depth first."""
    yield node
    for part in _parts(node):
        yield from _walk(part)


def _variables(node) -> list[str]:
    """Column names a formula expression reads (a call's callee is a function, not a column)."""
    return [_name(n) for n in _walk(node) if isinstance(n, (Variable, QuotedName))]


def _callee(call: Call) -> str:
    return _name(call.callee) if isinstance(call.callee, (Variable, QuotedName)) else str(call.callee)


def _calls(node) -> list[str]:
    """The names of the functions an expression calls."""
    return [_callee(n) for n in _walk(node) if isinstance(n, Call)]


def _wrapped(node) -> set[str]:
    """Columns the expression reads inside C(...)."""
    return {name for n in _walk(node) if isinstance(n, Call) and _callee(n) == "C" for name in _variables(n)}


def _groupings(node, found: list) -> list:
    """The formula's ``( ... | factor)`` parts, in order."""
    inside = getattr(node, "expression", None)
    if isinstance(node, Grouping) and isinstance(inside, Binary) and inside.operator.lexeme == "|":
        found.append(node)
    elif isinstance(node, Binary):
        _groupings(node.left, found)
        _groupings(node.right, found)
    return found


def _check_columns(df: pd.DataFrame, columns: list[str], labels: set[str], what: str) -> None:
    """Grouping factors and columns under C() are labels (none missing: formulae would drop such
    rows silently); a column of text is categories; every other column must be real numbers
    (hierstan.validation's rules: no booleans, dates or values above 1e12, named by row)."""
    for column in columns:
        values = df[column]
        text = isinstance(values.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(values)
        if column in labels or text or isinstance(values, pd.DataFrame):
            label_column(df, column, what)
        if column in labels:
            group_codes(df, column, what)  # labels that coincide as text (1 and "1") are refused
        elif not text:
            numeric_column(df, column, what)


def _fixed(dm, rows: int) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    if dm.common is None:
        return (), np.zeros((rows, 0)), np.zeros(rows)
    matrix = np.array(np.asarray(dm.common), dtype=float)
    labels, keep, offset = [], [], np.zeros(rows)
    for name, term in dm.common.terms.items():
        columns = np.arange(matrix.shape[1])[dm.common.slices[name]]
        if term.kind == "offset":
            offset += matrix[:, columns].sum(axis=1)
            continue
        labels += term.labels if term.kind != "intercept" else ["Intercept"]
        keep += list(columns)
    return tuple(labels), matrix[:, keep], offset


def _blocks(dm, groupings: list, df: pd.DataFrame, what: str) -> tuple[Block, ...]:
    blocks, seen = [], set()
    for grouping in groupings:
        resolved = Resolver(grouping).resolve()
        terms = getattr(resolved, "terms", [resolved])
        # one block per factor: "(1 | g/h)" is "(1 | g) + (1 | g:h)"
        by_factor: dict[str, list[str]] = {}
        for term in terms:
            by_factor.setdefault(term.name.split("|", 1)[1], []).append(term.name)
        for factor, names in by_factor.items():
            for name in names:
                if name in seen:
                    raise DataError(f"{what}: group term {name!r} appears twice in the formula; "
                                    "give it once")
                seen.add(name)
            blocks.append(_block(dm, factor, names, df, what))
    return tuple(blocks)


def _block(dm, factor: str, names: list[str], df: pd.DataFrame, what: str) -> Block:
    parts = factor.split(":")
    if len(parts) == 1:
        codes, levels = group_codes(df, factor, what)
    else:  # an interaction of factors: its levels are the combinations present
        combined = df[parts].astype(str).agg(":".join, axis=1).to_frame(factor)
        codes, levels = group_codes(combined, factor, what)
    labels, columns = [], []
    for name in names:
        term = dm.group.terms[name]
        matrix = dm.group[name].tocoo()
        width = matrix.shape[1] // len(term.groups)
        values = np.zeros((len(df), width))
        # each row's values sit in its own level's columns; the others are 0
        np.add.at(values, (matrix.row, matrix.col % width), matrix.data)
        columns.append(values)
        labels += [label.split("|", 1)[0] for label in term.labels[:width]]
    labels = ["Intercept" if label == "1" else label for label in labels]
    return Block(factor, tuple(labels), tuple(levels), codes, np.column_stack(columns))
