"""What the property tests (tests/properties.py) found, each kept as a case of its own."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from hierstan import DataError
from hierstan.models import FAMILIES


def test_glmm_trials_naming_no_column_is_a_data_error():
    # was a bare KeyError('nope') from pandas
    df = pd.DataFrame({"y": [0, 1, 2, 1], "x": [0.1, 0.5, 0.2, 0.9], "n": [2, 2, 3, 3]})
    with pytest.raises(DataError, match="missing column.*'nope'"):
        FAMILIES["glmm"].prepare(df, formula="y ~ x", likelihood="binomial", trials="nope")


def test_a_missing_category_reads_as_nan_not_as_numpys_repr():
    # was "row(s) 1 have np.float64(nan)"
    df = FAMILIES["exam"].load_data().astype({"vr_band": float})
    df.loc[1, "vr_band"] = np.nan
    with pytest.raises(DataError, match=r"row\(s\) 1 have NaN$"):
        FAMILIES["exam"].prepare(df)


@pytest.mark.parametrize("name, frame", [
    # a school whose two scores are equal: its mean's variance is 0 (numpy: divide by zero)
    ("mathtest", pd.DataFrame({"school": [1, 1, 2], "mathscore": [52.11, 52.11, 57.57]})),
    # three schools, one pupil in two of them: the pilot's Hessian is not positive definite
    # (numpy: invalid value in sqrt)
    ("thai", pd.DataFrame({"school_id": [10101, 10101, 10101, 40206, 40206, 50101],
                           "sex": [0, 0, 0, 0, 1, 1], "pped": [1, 1, 1, 1, 0, 0],
                           "repeat": [0, 0, 0, 0, 1, 0], "msesc": [0.1, 0.1, 0.1, -0.42, -0.42, 0.45]})),
])
def test_the_pilot_says_nothing_raw_about_degenerate_groups(name, frame):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        FAMILIES[name].prepare(frame)
