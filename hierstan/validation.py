"""Checks on user DataFrames and prior settings; each failure names the column and rows."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import DataError


def _rows(index: pd.Index, limit: int = 5) -> str:
    shown = ", ".join(map(str, index[:limit]))
    return shown + (f" (and {len(index) - limit} more)" if len(index) > limit else "")


def require_frame(df: object, what: str) -> pd.DataFrame:
    """Check ``df`` is a non-empty DataFrame."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{what}: expected a pandas DataFrame, got {type(df).__name__}")
    if df.empty:
        raise DataError(f"{what}: the DataFrame has no rows")
    return df


def require_columns(df: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"{what}: missing column(s) {', '.join(map(repr, missing))}; "
            f"the DataFrame has {', '.join(map(repr, df.columns))}"
        )


def numeric_column(
    df: pd.DataFrame, column: str, what: str, *, positive: bool = False
) -> np.ndarray:
    """Column ``column`` as a float array: numeric, finite and, if asked, > 0."""
    values = df[column]
    if pd.api.types.is_bool_dtype(values):
        raise DataError(f"{what}: column {column!r} must be numeric; got booleans")
    if not pd.api.types.is_numeric_dtype(values):  # e.g. object: accepted if every value is a number
        converted = pd.to_numeric(values, errors="coerce")
        bad = values.index[converted.isna() & values.notna()]
        if len(bad):
            raise DataError(f"{what}: column {column!r} must be numeric (dtype {values.dtype}); "
                            f"non-numeric value(s) in row(s) {_rows(bad)}")
        values = converted
    array = values.to_numpy(dtype=float)
    bad = values.index[~np.isfinite(array)]
    if len(bad):
        raise DataError(f"{what}: column {column!r} has NaN or infinite value(s) in row(s) {_rows(bad)}")
    if positive:
        bad = values.index[array <= 0]
        if len(bad):
            raise DataError(f"{what}: column {column!r} must be > 0; row(s) {_rows(bad)} are not")
    return array


def label_column(df: pd.DataFrame, column: str, what: str, *, unique: bool = False) -> pd.Series:
    """Group labels: no missing values and, if asked, no repeats."""
    labels = df[column]
    missing = labels.index[labels.isna()]
    if len(missing):
        raise DataError(f"{what}: column {column!r} has missing label(s) in row(s) {_rows(missing)}")
    if unique:
        repeated = labels[labels.duplicated(keep=False)]
        if len(repeated):
            raise DataError(
                f"{what}: column {column!r} must not repeat a label; "
                f"{sorted(map(str, repeated.unique()))} appear more than once"
            )
    return labels


def _natural_key(label: str) -> tuple:
    # clinic_2 before clinic_10: digit runs compare as numbers
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", label) if part)


def group_codes(df: pd.DataFrame, column: str, what: str, *,
                min_groups: int = 1) -> tuple[np.ndarray, list[str]]:
    """0-based codes of the groups in ``column`` and their labels as text.

    Groups are ordered by value for numbers, naturally for text (``clinic_2`` before
    ``clinic_10``) and by category order for a Categorical, whose every category must have rows
    (an empty group would be fitted from its prior alone). Labels that coincide as text (1 and
    "1") are refused: they would become one coordinate.
    """
    labels = label_column(df, column, what)
    if isinstance(labels.dtype, pd.CategoricalDtype):
        unused = [c for c in labels.cat.categories if c not in set(labels)]
        if unused:
            raise DataError(f"{what}: group(s) {', '.join(map(repr, unused))} of column {column!r} "
                            "have no rows; drop them (e.g. .cat.remove_unused_categories())")
        codes, uniques = pd.factorize(labels, sort=True)
        names = [str(u) for u in uniques]
    else:
        codes, uniques = pd.factorize(labels, sort=False)
        names = [str(u) for u in uniques]
        numeric = pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels)
        order = (np.argsort(np.asarray(uniques, dtype=float), kind="stable") if numeric
                 else np.array(sorted(range(len(names)), key=lambda i: _natural_key(names[i])), int))
        rank = np.empty(len(order), dtype=int)
        rank[order] = np.arange(len(order))
        codes, names = rank[codes], [names[i] for i in order]
    if len(set(names)) < len(names):
        seen = pd.Series(names)
        raise DataError(f"{what}: labels of column {column!r} coincide as text: "
                        f"{sorted(set(seen[seen.duplicated()]))} (e.g. 1 and '1')")
    if len(names) < min_groups:
        raise DataError(f"{what}: column {column!r} must hold at least {min_groups} groups, got {names}")
    return np.asarray(codes, dtype=int), names


def prior_scales(defaults: Mapping[str, float], given: Mapping[str, float] | None, *,
                 locations: Collection[str] = ()) -> dict[str, float]:
    """Merge ``given`` over ``defaults``; every setting must be a known name, finite and, unless
    named in ``locations`` (prior means, which may be any real number), > 0."""
    scales = dict(defaults)
    for name, value in (given or {}).items():
        if name not in defaults:
            raise DataError(f"unknown prior setting {name!r}; this model takes {', '.join(defaults)}")
        scales[name] = value
    for name, value in scales.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise DataError(f"prior setting {name!r} must be a number, got {value!r}")
        if not np.isfinite(value) or (value <= 0 and name not in locations):
            raise DataError(f"prior setting {name!r} must be finite"
                            + ("" if name in locations else " and > 0") + f", got {value}")
        scales[name] = float(value)
    return scales


def binary_column(df: pd.DataFrame, column: str, what: str) -> np.ndarray:
    """Column ``column`` as a float array of 0s and 1s."""
    values = numeric_column(df, column, what)
    bad = df.index[(values != 0) & (values != 1)]
    if len(bad):
        raise DataError(f"{what}: column {column!r} must be 0 or 1; row(s) {_rows(bad)} are not")
    return values


def category_column(df: pd.DataFrame, column: str, allowed: Sequence, what: str) -> pd.Series:
    """Column ``column``, every value one of ``allowed`` (no missing values)."""
    values = df[column]
    bad = df.index[~values.isin(allowed)]
    if len(bad):
        raise DataError(f"{what}: column {column!r} must be one of {', '.join(map(repr, allowed))}; "
                        f"row(s) {_rows(bad)} have {', '.join(map(repr, values[bad].unique()[:5]))}")
    return values

