"""Helpers shared by the data-validation tests."""


def spoil(frame, column, row, value):
    """A copy of ``frame`` with ``value`` (of any type) at ``row`` of ``column``."""
    spoiled = frame.copy()
    spoiled[column] = spoiled[column].astype(object)
    spoiled.loc[row, column] = value
    return spoiled
