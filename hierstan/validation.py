"""Checks on user DataFrames and prior settings; each failure names the column and rows.

Numbers: a column used as numbers must hold real numbers (a numeric dtype, or an object/text column
whose every value is a number or a number written as text). Booleans, complex numbers, dates and
durations are refused, whatever the column's dtype, rather than converted. Every value must be
finite with magnitude at most :data:`MAX_MAGNITUDE` (1e12): larger values are almost always a unit
or coding mistake, and their squares and sums (sufficient statistics, standardisation) would
overflow or lose all precision in Stan. The arrays returned are copies the caller owns.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import DataError, DataWarning, warn_user

# largest |value| accepted in a numeric column (and, for a column of positive scales, the inverse
# of the smallest): squares of it (1e24) and their sums stay far from float64's limit (1.8e308)
MAX_MAGNITUDE = 1e12


def listed(items: Iterable, limit: int = 5, show: Callable[[object], str] = repr) -> str:
    """The first ``limit`` items and a count of the rest: a message stays one readable line
    however many columns, labels or rows it is about."""
    items = list(items)
    shown = ", ".join(map(show, items[:limit]))
    return shown + (f" (and {len(items) - limit} more)" if len(items) > limit else "")


def _rows(index: pd.Index, limit: int = 5) -> str:
    return listed(index, limit, str)


def _value(value: object) -> str:
    """A cell's value as the user would write it: missing as such, numpy's scalars as Python's
    (``nan``, not ``np.float64(nan)``)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "a missing value"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return "NaN"
    return repr(value)


def require_frame(df: object, what: str) -> pd.DataFrame:
    """Check ``df`` is a non-empty DataFrame with one flat level of column names."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{what}: expected a pandas DataFrame, got {type(df).__name__}")
    if isinstance(df.columns, pd.MultiIndex):
        raise DataError(f"{what}: the DataFrame has MultiIndex columns ({df.columns.nlevels} levels); "
                        "give it one level of column names (e.g. df.columns = ['_'.join(map(str, c)) "
                        "for c in df.columns])")
    if df.empty:
        raise DataError(f"{what}: the DataFrame has no rows")
    return df


def require_columns(df: pd.DataFrame, columns: list[str], what: str) -> None:
    """Every name in ``columns`` is text, without "/" (names become InferenceData variables and
    dims, which netCDF files cannot name with "/"), and names exactly one column of ``df``."""
    for column in columns:
        if not isinstance(column, str):
            raise DataError(f"{what}: column names must be strings, got {column!r} "
                            f"({type(column).__name__})")
        if "/" in column:
            raise DataError(f"{what}: column name {column!r} contains '/', which cannot name a variable "
                            "of the fit (netCDF forbids it); rename the column")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"{what}: missing column(s) {listed(missing)}; "
            f"the DataFrame has {listed(df.columns, 20)}"
        )
    repeated = [c for c in dict.fromkeys(columns) if (df.columns == c).sum() > 1]
    if repeated:
        raise DataError(f"{what}: the DataFrame has several columns named "
                        f"{listed(repeated)}; column names must be unique")


def distinct_columns(what: str, **roles: str | Sequence[str]) -> None:
    """Each column plays one role: two roles (outcome, group, a predictor, ...) naming the same
    column would make one of them silently wrong, so refuse it. A role may name several columns."""
    seen: dict[object, str] = {}
    for role, names in roles.items():
        for name in [names] if isinstance(names, str) or not isinstance(names, Sequence) else names:
            try:
                earlier = seen.get(name)
            except TypeError:  # unhashable: require_columns names the problem
                continue
            if earlier is not None:
                given = f"twice in {role}" if earlier == role else f"both as {earlier} and as {role}"
                raise DataError(f"{what}: column {name!r} is given {given}; the roles must be "
                                "distinct columns")
            seen[name] = role


def not_reserved(what: str, columns: Collection[str], reserved: Collection[str]) -> None:
    """A column stored in ``constant_data`` under its own name must not be named like another entry
    of it (the group index ``<group>_index``, a prior setting): one would silently replace the other."""
    clash = sorted(set(columns) & set(reserved))
    if clash:
        raise DataError(f"{what}: column name(s) {listed(clash)} are also names hierstan "
                        "gives to other data of the fit (group index, prior settings); rename the column(s)")


def row_labels(df: pd.DataFrame) -> list:
    """Labels of ``df``'s rows for a coordinate: its index if that is one flat level of unique,
    non-missing values of one kind (all text or all numbers, ...), else positions 0..n-1 (a
    MultiIndex's tuples, repeats or mixed kinds cannot label one dimension, nor be written to
    netCDF)."""
    index = df.index
    if (isinstance(index, pd.MultiIndex) or not index.is_unique or index.hasnans
            or (index.dtype == object and len({type(v) for v in index}) > 1)):
        return list(range(len(df)))
    return index.to_list()


_NOT_NUMBERS = (
    ((bool, np.bool_), "booleans (True/False); convert them with .astype(int) if 0/1 is meant"),
    ((complex, np.complexfloating), "complex numbers"),
    ((datetime.date, datetime.time, np.datetime64, pd.Period),
     "dates or times; convert them to numbers first (e.g. days since a start date)"),
    ((datetime.timedelta, np.timedelta64), "durations; convert them to numbers first "
                                           "(e.g. .dt.total_seconds())"),
)


def _refuse_non_numbers(values: pd.Series, column: str, what: str) -> None:
    """Refuse dtypes and object values that pandas would silently turn into numbers."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    kinds = {"b": _NOT_NUMBERS[0][1], "c": _NOT_NUMBERS[1][1], "M": _NOT_NUMBERS[2][1],
             "m": _NOT_NUMBERS[3][1]}
    if pd.api.types.is_bool_dtype(dtype):
        kind = "b"
    elif isinstance(dtype, pd.PeriodDtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        kind = "M"
    else:
        kind = getattr(dtype, "kind", "O")
    if kind in kinds:
        raise DataError(f"{what}: column {column!r} must hold real numbers; it holds {kinds[kind]} "
                        f"(dtype {values.dtype})")
    if kind == "O":
        for types, description in _NOT_NUMBERS:
            bad = values.index[values.map(lambda v, types=types: isinstance(v, types)).to_numpy(bool)]
            if len(bad):
                raise DataError(f"{what}: column {column!r} must hold real numbers; row(s) {_rows(bad)} "
                                f"hold {description}")


def numeric_column(
    df: pd.DataFrame, column: str, what: str, *, positive: bool = False
) -> np.ndarray:
    """Column ``column`` as a new float array: real numbers, finite, of magnitude at most
    :data:`MAX_MAGNITUDE` and, if asked, > 0 (then also >= 1 / MAX_MAGNITUDE)."""
    values = df[column]
    if isinstance(values, pd.DataFrame):
        raise DataError(f"{what}: the DataFrame has several columns named {column!r}; "
                        "column names must be unique")
    _refuse_non_numbers(values, column, what)
    if not pd.api.types.is_numeric_dtype(values):  # e.g. object: accepted if every value is a number
        converted = pd.to_numeric(values.astype(object), errors="coerce")
        bad = values.index[converted.isna().to_numpy() & values.notna().to_numpy()]
        if len(bad):
            raise DataError(f"{what}: column {column!r} must be numeric (dtype {values.dtype}); "
                            f"non-numeric value(s) in row(s) {_rows(bad)}")
        values = converted
    # a copy: the prepared data must not change when the caller edits the frame afterwards
    array = np.array(values.to_numpy(dtype=float, na_value=np.nan), dtype=float, copy=True)
    bad = values.index[~np.isfinite(array)]
    if len(bad):
        raise DataError(f"{what}: column {column!r} has NaN or infinite value(s) in row(s) {_rows(bad)}")
    bad = values.index[np.abs(array) > MAX_MAGNITUDE]
    if len(bad):
        raise DataError(f"{what}: column {column!r} has value(s) of magnitude above {MAX_MAGNITUDE:g} in "
                        f"row(s) {_rows(bad)}; rescale the column (e.g. other units)")
    if positive:
        bad = values.index[array <= 0]
        if len(bad):
            raise DataError(f"{what}: column {column!r} must be > 0; row(s) {_rows(bad)} are not")
        bad = values.index[array < 1 / MAX_MAGNITUDE]
        if len(bad):
            raise DataError(f"{what}: column {column!r} has value(s) below {1 / MAX_MAGNITUDE:g} in row(s) "
                            f"{_rows(bad)}; rescale the column (e.g. other units)")
    return array


def label_column(df: pd.DataFrame, column: str, what: str, *, unique: bool = False) -> pd.Series:
    """Group labels: no missing values and, if asked, no repeats."""
    labels = df[column]
    if isinstance(labels, pd.DataFrame):
        raise DataError(f"{what}: the DataFrame has several columns named {column!r}; "
                        "column names must be unique")
    missing = labels.index[labels.isna().to_numpy()]
    if len(missing):
        raise DataError(f"{what}: column {column!r} has missing label(s) in row(s) {_rows(missing)}")
    if unique:
        repeated = labels[labels.duplicated(keep=False).to_numpy()]
        if len(repeated):
            raise DataError(
                f"{what}: column {column!r} must not repeat a label; "
                f"{sorted(map(str, repeated.unique()))} appear more than once"
            )
    return labels


def text_labels(labels: Sequence, column: str, what: str) -> list[str]:
    """``labels`` (distinct values) as text, which coordinates use; refused if two coincide as
    text (1 and "1"): they would become one coordinate."""
    names = [str(label) for label in labels]
    if len(set(names)) < len(names):
        seen = pd.Series(names)
        raise DataError(f"{what}: labels of column {column!r} coincide as text: "
                        f"{sorted(set(seen[seen.duplicated()]))} (e.g. 1 and '1'); make them distinct")
    return names


def _natural_key(label: str) -> tuple:
    # clinic_2 before clinic_10: digit runs compare as numbers
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", label) if part)


def group_codes(df: pd.DataFrame, column: str, what: str, *,
                min_groups: int = 1) -> tuple[np.ndarray, list[str]]:
    """0-based codes of the groups in ``column`` and their labels as text.

    Groups are ordered by value for numbers, naturally for text (``clinic_2`` before
    ``clinic_10``) and by category order for a Categorical, whose categories without rows are
    left out with a note (a group with no rows would be fitted from its prior alone). Labels
    that coincide as text (1 and "1") are refused: they would become one coordinate.
    ``min_groups``: a model with a population scale (a between-group sd) needs at least 2 groups
    to learn anything about it.
    """
    labels = label_column(df, column, what)
    if isinstance(labels.dtype, pd.CategoricalDtype):
        unused = [c for c in labels.cat.categories if c not in set(labels)]
        if unused:  # what df[df.x > 0] leaves behind: a group with no rows has nothing to fit
            warn_user(f"{what}: column {column!r} has {len(unused)} categor"
                      f"{'y' if len(unused) == 1 else 'ies'} with no rows, left out of the fit: "
                      f"{listed(unused)}", DataWarning)
            labels = labels.cat.remove_unused_categories()
        codes, uniques = pd.factorize(labels, sort=True)
        names = text_labels(uniques, column, what)
    else:
        codes, uniques = pd.factorize(labels, sort=False)
        names = text_labels(uniques, column, what)
        numeric = (pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels)
                   and not pd.api.types.is_complex_dtype(labels))
        order = (np.argsort(np.asarray(uniques, dtype=float), kind="stable") if numeric
                 else np.array(sorted(range(len(names)), key=lambda i: _natural_key(names[i])), int))
        rank = np.empty(len(order), dtype=int)
        rank[order] = np.arange(len(order))
        codes, names = rank[codes], [names[i] for i in order]
    if len(names) < min_groups:
        raise DataError(f"{what}: column {column!r} must hold at least {min_groups} groups to estimate "
                        f"the spread between groups, got {len(names)} ({', '.join(names[:5])})")
    return np.asarray(codes, dtype=int), names


def prior_scales(defaults: Mapping[str, float], given: Mapping[str, float] | None, *,
                 locations: Collection[str] = ()) -> dict[str, float]:
    """Merge ``given`` over ``defaults``; every setting must be a known name, finite and, unless
    named in ``locations`` (prior means, which may be any real number), > 0."""
    if given is not None and not isinstance(given, Mapping):
        raise DataError(f"priors must be a mapping of setting to value (e.g. "
                        f"{{{next(iter(defaults))!r}: 1.0}}), got {type(given).__name__}")
    scales = dict(defaults)
    for name, value in (given or {}).items():
        if name not in defaults:
            raise DataError(f"unknown prior setting {name!r}; this model takes {', '.join(defaults)}")
        scales[name] = value
    for name, value in scales.items():
        number = isinstance(value, (int, float, np.integer, np.floating))
        if isinstance(value, (bool, np.bool_)) or not number:
            raise DataError(f"prior setting {name!r} must be a number, got {value!r}")
        if not np.isfinite(value) or (value <= 0 and name not in locations):
            raise DataError(f"prior setting {name!r} must be finite"
                            + ("" if name in locations else " and > 0") + f", got {value}")
        scales[name] = float(value)
    return scales


def binary_column(df: pd.DataFrame, column: str, what: str) -> np.ndarray:
    """Column ``column`` as a new float array of 0s and 1s."""
    values = numeric_column(df, column, what)
    bad = df.index[(values != 0) & (values != 1)]
    if len(bad):
        raise DataError(f"{what}: column {column!r} must be 0 or 1; row(s) {_rows(bad)} are not")
    return values


def category_column(df: pd.DataFrame, column: str, allowed: Sequence, what: str) -> pd.Series:
    """Column ``column``, every value one of ``allowed`` (no missing values)."""
    values = df[column]
    # True == 1: without this a boolean would pass for the number 1
    flags = values.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(bool)
    bad = df.index[~values.isin(allowed).to_numpy() | flags]
    if len(bad):
        raise DataError(f"{what}: column {column!r} must be one of {listed(allowed, 10)}; "
                        f"row(s) {_rows(bad)} have {', '.join(map(_value, values[bad].unique()[:5]))}")
    return values


def require_bool(name: str, value: object) -> bool:
    """An argument that must be True or False (not 0/1, not "yes")."""
    if not isinstance(value, (bool, np.bool_)):
        raise DataError(f"{name} must be True or False, got {value!r}")
    return bool(value)
