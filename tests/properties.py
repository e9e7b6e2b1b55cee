"""Generated input for the property tests of every family's ``prepare`` (issue 32).

A case starts from rows of the family's shipped data (so that well-formed data, which must
prepare, are common) and applies a few random spoilers: another dtype (nullable, object,
categorical, strings, bytes, dates, bools), missing and non-finite cells, huge and tiny
magnitudes, unicode or dropped columns, junk columns, any index kind, a constant column, no rows.
The formula family gets formulas generated over the frame's columns.

The property (:func:`check`): ``prepare`` either raises ``DataError``/``UnknownNameError``
whose message names a column or argument, or returns data that the program accepts (checked by
the engine when given), and the caller's frame is unchanged and shares no memory with the result.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from hierstan.errors import DataError, UnknownNameError
from hierstan.family import Family
from hierstan.fitting import _check_names
from hierstan.programs import load_program

LIKELIHOODS = ["gaussian", "bernoulli", "binomial", "poisson", "negative_binomial"]
# text that ends up in column names and labels: unicode, spaces, path and formula syntax
NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)


@cache
def _shipped(name: str) -> pd.DataFrame:
    from hierstan.models import FAMILIES

    return FAMILIES[name].load_data()


@st.composite
def cases(draw, family: Family) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A frame and the keyword arguments of ``family.prepare`` for it."""
    frame = _rows(draw, family)
    kwargs: dict[str, Any] = {}
    if len(family.variants) > 1 and draw(st.booleans()):
        kwargs["variant"] = draw(st.sampled_from(family.variants))
    renamed: dict[str, str] = {}
    with warnings.catch_warnings():  # casts that overflow are the point, not a finding
        warnings.simplefilter("ignore")
        # mostly one or two spoilers: a frame spoiled many ways is refused for the first of them
        for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 2, 3, 4]))):
            frame = draw(st.sampled_from(SPOILERS))(draw, frame, renamed)
    # the column arguments: the (possibly renamed) names, now and then a stale one
    for role, column in family.columns.items():
        if column in renamed and draw(st.integers(0, 4)) > 0:
            kwargs[role] = renamed[column]
    if family.name == "multigroup" and draw(st.booleans()):
        kwargs["predictors"] = draw(st.lists(st.sampled_from([*map(str, frame.columns), "x9"]),
                                             max_size=4)) if len(frame.columns) else []
    if family.name == "exam" and draw(st.booleans()):  # small samples lack a school category
        kwargs["standardise"] = False
    if family.name == "glmm":
        kwargs.update(_formula(draw, frame))
    return frame, kwargs


def _rows(draw, family: Family) -> pd.DataFrame:
    """Rows of the shipped data: of a few groups (or any), some repeated."""
    base = _shipped(family.name)
    group = family.columns.get("group", "county" if family.name == "glmm" else None)
    pool = np.arange(len(base))
    if group in base and draw(st.booleans()):
        labels = list(dict.fromkeys(base[group]))
        chosen = draw(st.lists(st.sampled_from(labels), min_size=2, max_size=6, unique=True))
        pool = np.flatnonzero(base[group].isin(chosen).to_numpy())
    unique = draw(st.booleans())  # eight schools, say, prepare only with each school once
    size = min(len(pool), 40) if unique else 40
    positions = draw(st.lists(st.sampled_from(pool.tolist()), min_size=1, max_size=size, unique=unique))
    return base.iloc[positions].reset_index(drop=True)


def _column(draw, frame: pd.DataFrame) -> str | None:
    return draw(st.sampled_from(list(frame.columns))) if len(frame.columns) else None


def _dtype(draw, frame, renamed):
    column = _column(draw, frame)
    if column is None:
        return frame
    values = frame[column]
    kind = draw(st.sampled_from(["object", "str", "category", "nullable", "float32", "bytes",
                                 "datetime", "bool", "mixed", "int"]))
    frame = frame.copy()
    if kind == "object":
        frame[column] = values.astype(object)
    elif kind == "str":
        frame[column] = values.astype(str)
    elif kind == "category":
        unused = draw(st.lists(NAMES, max_size=3))
        categories = list(dict.fromkeys([*values.dropna().unique().tolist(), *unused]))
        frame[column] = pd.Categorical(values, categories=categories)
    elif kind == "nullable":
        numeric = pd.to_numeric(values, errors="coerce")
        known = numeric.dropna().astype(float)
        whole = np.isfinite(known).all() and known.abs().lt(1e15).all() and known.eq(known.round()).all()
        frame[column] = numeric.astype("Int64" if whole else "Float64")
    elif kind == "float32":
        frame[column] = pd.to_numeric(values, errors="coerce").astype("float32")
    elif kind == "bytes":
        frame[column] = [str(v).encode() for v in values]
    elif kind == "datetime":
        frame[column] = pd.to_datetime(pd.to_numeric(values, errors="coerce"), unit="D", errors="coerce")
    elif kind == "bool":
        frame[column] = pd.to_numeric(values, errors="coerce").fillna(0).ne(0)
    elif kind == "mixed":  # half numbers, half their text
        frame[column] = [v if i % 2 else str(v) for i, v in enumerate(values)]
    else:
        numeric = pd.to_numeric(values, errors="coerce")
        if np.isfinite(numeric.astype(float)).all() and numeric.abs().max() < 1e15:
            frame[column] = np.floor(numeric).astype(np.int64)
    return frame


def _missing(draw, frame, renamed):
    column = _column(draw, frame)
    if column is None or not len(frame):
        return frame
    value = draw(st.sampled_from([np.nan, None, pd.NA, np.inf, -np.inf, "", "NA"]))
    rows = draw(st.lists(st.integers(0, len(frame) - 1), min_size=1, max_size=3))
    return _set(frame, column, rows, value, object)


def _magnitude(draw, frame, renamed):
    column = _column(draw, frame)
    if column is None:
        return frame
    if not pd.api.types.is_numeric_dtype(frame[column]):
        return frame
    numeric = frame[column]
    frame = frame.copy()
    kind = draw(st.sampled_from(["huge", "tiny", "big int", "negative"]))
    if kind == "huge":
        frame[column] = numeric * 1e300
    elif kind == "tiny":
        frame[column] = numeric * 1e-300
    elif kind == "big int":
        finite = numeric.where(np.isfinite(numeric.astype(float)), 0).clip(-1e6, 1e6)
        frame[column] = finite.astype(np.int64) + 2**62
    else:
        frame[column] = -numeric.abs() - 1
    return frame


def _cell(draw, frame, renamed):
    """One number at a boundary a program may declare (lower=0, lower=1, upper=1, integers)."""
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    if not numeric or not len(frame):
        return frame
    column = draw(st.sampled_from(numeric))
    row = draw(st.integers(0, len(frame) - 1))
    value = draw(st.sampled_from([0, -1, -0.5, 0.5, 2, 1e-13, 1e13, -1e-300]))
    return _set(frame, column, [row], value, float)


def _set(frame: pd.DataFrame, column: str, rows: list[int], value: object, dtype: type) -> pd.DataFrame:
    """A copy of ``frame`` with ``column`` cast to ``dtype`` and ``value`` at the positions ``rows``."""
    frame = frame.copy()
    frame[column] = frame[column].astype(dtype)
    for row in rows:
        frame.iat[row, frame.columns.get_loc(column)] = value
    return frame


def _rename(draw, frame, renamed):
    column = _column(draw, frame)
    if column is None:
        return frame
    new = draw(NAMES.filter(lambda name: name not in frame.columns))
    renamed[column] = new
    return frame.rename(columns={column: new})


def _drop(draw, frame, renamed):
    column = _column(draw, frame)
    return frame if column is None else frame.drop(columns=[column])


def _junk(draw, frame, renamed):
    name = draw(NAMES.filter(lambda name: name not in frame.columns))
    values = draw(st.sampled_from([np.nan, "x", 0, b"\x00", pd.Timestamp(0)]))
    frame = frame.copy()
    frame[name] = [values] * len(frame)
    return frame


def _constant(draw, frame, renamed):
    column = _column(draw, frame)
    if column is None or not len(frame):
        return frame
    frame = frame.copy()
    frame[column] = frame[column].iloc[0]
    return frame


def _index(draw, frame, renamed):
    n = len(frame)
    kind = draw(st.sampled_from(["strings", "duplicates", "floats", "dates", "multi", "descending"]))
    frame = frame.copy()
    if kind == "strings":
        frame.index = [f"r{i}" for i in range(n)]
    elif kind == "duplicates":
        frame.index = [i // 2 for i in range(n)]
    elif kind == "floats":
        frame.index = np.arange(n) / 3
    elif kind == "dates":
        frame.index = pd.date_range("2020-01-01", periods=n)
    elif kind == "multi":
        frame.index = pd.MultiIndex.from_arrays([np.arange(n) % 3, np.arange(n)])
    else:
        frame.index = np.arange(n)[::-1]
    return frame


def _empty(draw, frame, renamed):
    return frame.iloc[0:0]


SPOILERS: list[Callable] = [_dtype, _missing, _magnitude, _cell, _cell, _rename, _drop, _junk,
                            _constant, _index, _empty]


def _formula(draw, frame: pd.DataFrame) -> dict[str, Any]:
    """A formula over the frame's columns (and a name that is not one), with a likelihood."""
    names = [*map(str, frame.columns), "nope"]
    pick = st.sampled_from(names)
    terms = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(pick)
        terms.append(draw(st.sampled_from([name, f"C({name})", f"{name}:{draw(pick)}", name])))
    for _ in range(draw(st.integers(0, 2))):
        group = draw(pick)
        if draw(st.booleans()):
            group = f"{group}:{draw(pick)}"
        slope = draw(pick)
        terms.append(draw(st.sampled_from([f"(1 | {group})", f"(1 + {slope} | {group})",
                                           f"(0 + {slope} | {group})"])))
    right = " + ".join(terms) or "1"
    formula = f"{draw(pick)} ~ {right}"
    likelihood = draw(st.sampled_from(LIKELIHOODS))
    found = {"formula": formula, "likelihood": likelihood}
    if likelihood == "binomial" or draw(st.integers(0, 9)) == 0:
        found["trials"] = draw(pick)
    return found


def _named(message: str, frame: pd.DataFrame, kwargs: dict[str, Any], family: Family) -> bool:
    """The message names a column of the frame, a column argument's value, or an argument."""
    words = {str(c) for c in frame.columns} | {repr(str(c)) for c in frame.columns}
    words |= set(family.options) | set(kwargs)
    words |= {str(v) for v in kwargs.values() if isinstance(v, str)}
    words |= {str(v) for v in kwargs.get("predictors", [])}
    words |= set(family.columns.values())
    if frame.empty:  # then the `data` argument itself is what is wrong
        words |= {"DataFrame", "no rows", "no columns"}
    return any(word and word in message for word in words)


def _arrays(prepared) -> dict[str, np.ndarray]:
    found = {**prepared.data, **{f"constant {k}": v for k, v in prepared.constant.items()},
             "observed": prepared.observed}
    return {k: v for k, v in found.items() if isinstance(v, np.ndarray)}


def check(family: Family, frame: pd.DataFrame, kwargs: dict[str, Any],
          engine_check: Callable[[Any], None] | None = None) -> str:
    """The property; returns "refused" or "prepared" (for the tests' statistics)."""
    before = frame.copy(deep=True)
    try:
        prepared = family.prepare(frame, **kwargs)
        _check_names(prepared, load_program(prepared.program))
    except (DataError, UnknownNameError) as exc:
        assert _named(str(exc), frame, kwargs, family), f"names no column or argument: {exc}"
        outcome = "refused"
    else:
        for column in frame.columns:
            values = frame[column].to_numpy()
            for key, array in _arrays(prepared).items():
                assert not np.shares_memory(array, values), (key, column)
        if engine_check is not None:
            engine_check(prepared)
        outcome = "prepared"
    pd.testing.assert_frame_equal(frame, before)
    assert list(frame.columns) == list(before.columns) and frame.index.equals(before.index)
    return outcome


class Prepared(Exception):
    """Raised in place of sampling: the CLI got as far as prepared data."""


@st.composite
def csv_cases(draw, family: Family) -> tuple[bytes, list[str], list[str]]:
    """The bytes of a --data file (a generated frame's CSV, perhaps damaged), the CLI's
    arguments after it and the frame's column names."""
    frame, kwargs = draw(cases(family))
    raw = frame.to_csv(index=False).encode()
    damage = draw(st.sampled_from(["none", "none", "truncated", "nul", "latin-1", "bom", "crlf",
                                   "quote", "header only", "empty", "bytes"]))
    if damage == "truncated":
        raw = raw[:draw(st.integers(0, len(raw)))]
    elif damage == "nul":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + b"\0" + raw[at:]
    elif damage == "latin-1":
        raw = raw + "\xe9t\xe9,1\n".encode("latin-1")
    elif damage == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif damage == "crlf":
        raw = raw.replace(b"\n", b"\r\n")
    elif damage == "quote":
        raw = raw + b'"unclosed,1\n'
    elif damage == "header only":
        raw = raw.split(b"\n", 1)[0] + b"\n"
    elif damage == "empty":
        raw = b""
    elif damage == "bytes":
        raw = draw(st.binary(max_size=200))
    options = []
    for key, value in kwargs.items():
        if not isinstance(value, str) or "\0" in value:  # argv cannot hold NUL
            continue
        flag = key if key in ("variant", "outcome", "group", "formula", "likelihood", "trials") else None
        options += [f"--{flag}", value] if flag else ["--column", f"{key}={value}"]
    return raw, options, [str(c) for c in frame.columns]


def check_cli(family: Family, raw: bytes, options: list[str], columns: list[str], folder) -> str:
    """``hierstan fit <family> --data <file>`` with sampling replaced by :class:`Prepared`: exit
    code 2 with one message naming --data, a column or an argument, or prepared data."""
    import contextlib
    import io
    from unittest import mock

    from hierstan import cli

    path = folder / "data.csv"
    path.write_bytes(raw)
    said = io.StringIO()
    with mock.patch("hierstan.family.sample", side_effect=Prepared), \
            contextlib.redirect_stderr(said), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli.main(["fit", family.name, "--data", str(path), *options])
        except Prepared:
            return "prepared"
        except SystemExit as exc:  # argparse refusing an option value
            code = exc.code
    message = said.getvalue()
    assert code == 2, (code, message)
    assert message.startswith("hierstan: error: ") or "usage:" in message, message
    words = ["--data", "--column", *options, *columns, *map(repr, columns), *family.options,
             *family.columns.values()]
    assert any(word and word in message for word in words), f"names nothing: {message}"
    assert path.read_bytes() == raw
    return "refused"
