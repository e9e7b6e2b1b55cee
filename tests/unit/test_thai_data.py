"""Thai data preparation: cells, missing msesc, school subsets and bad input (no compilation)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit

import hierstan
from hierstan.models import thai


@pytest.fixture(scope="module")
def frame():
    return thai.load_data()


def _prepare(data=None, **arguments):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hierstan.DataWarning)
        return thai.stan_data(data, **arguments)


def test_shipped_data_and_labels(frame):
    prepared = _prepare(variant="random_slope")
    assert prepared.data["N"] == 8582 and prepared.data["J"] == 411
    assert prepared.coords["school_id"][0] == str(frame["school_id"].min())
    assert prepared.dims["alpha"] == ["school_id"] and prepared.dims["repeat"] == ["pupil"]
    assert prepared.attrs["likelihood"] == "cells"


@pytest.mark.parametrize("variant", thai.VARIANTS)
def test_cell_likelihood_equals_the_pupil_likelihood(variant):
    """Binomial over cells = Bernoulli over pupils (up to the binomial coefficients, constant)."""
    d = _prepare(variant=variant).data
    rng = np.random.default_rng(1)
    alpha, beta = rng.normal(-2, 1, d["J"]), rng.normal(-0.5, 0.5, d["J"])
    coefficients = rng.normal(0, 0.5, d["K"])

    def eta(school, X, pped):
        slope = beta[school - 1] * pped if variant in ("random_slope", "slope_only") else 0.0
        return alpha[school - 1] + X @ coefficients + slope

    pupils = stats.bernoulli.logpmf(d["y"], expit(eta(d["school"], d["X"], d["pped"]))).sum()
    p = expit(eta(d["cell_school"], d["cell_X"], d["cell_pped"]))
    cells = stats.binom.logpmf(d["cell_y"], d["cell_n"], p).sum()
    constant = (np.log(stats.binom.pmf(d["cell_y"], d["cell_n"], 0.5)) + d["cell_n"] * np.log(2)).sum()
    assert cells - constant == pytest.approx(pupils, rel=1e-12)
    assert d["cell_n"].sum() == d["N"] and d["cell_y"].sum() == d["y"].sum()
    assert d["C"] <= d["N"] / 2


def test_covariates_drop_missing_msesc_with_a_count(frame):
    before = frame.copy()
    with pytest.warns(hierstan.DataWarning, match="missing for 1066 pupils in 55 schools"):
        prepared = thai.stan_data(frame, variant="covariates")
    assert prepared.data["N"] == 7516 and prepared.data["J"] == 356
    assert prepared.attrs["dropped_pupils"] == 1066
    assert prepared.coords["coefficient"] == ["sex", "pped", "msesc"]
    with pytest.raises(hierstan.DataError, match="missing='drop'"):
        thai.stan_data(frame, variant="covariates", missing="raise")
    # the other variants do not use msesc and keep every pupil
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert thai.stan_data(frame, variant="random_intercept").data["N"] == 8582
    pd.testing.assert_frame_equal(frame, before)


def test_school_subset_is_seeded(frame):
    first = _prepare(frame, schools=19, subset_seed=3)
    again = _prepare(frame, schools=19, subset_seed=3)
    other = _prepare(frame, schools=19, subset_seed=4)
    assert first.data["J"] == 19 and first.coords["school_id"] == again.coords["school_id"]
    assert first.coords["school_id"] != other.coords["school_id"]
    chosen = frame["school_id"].astype(str).isin(first.coords["school_id"])
    assert first.data["N"] == chosen.sum()
    with pytest.raises(hierstan.DataError, match="subset of 412 schools, but the data have only 411"):
        thai.stan_data(frame, schools=412)
    with pytest.raises(hierstan.DataError, match="356"):  # after dropping the missing msesc
        _prepare(frame, variant="covariates", schools=400)


@pytest.mark.parametrize("column, value, message", [
    ("repeat", 2, "column 'repeat' must be 0 or 1; row(s) 7"),
    ("pped", 0.5, "column 'pped' must be 0 or 1; row(s) 7"),
    ("repeat", np.nan, "column 'repeat' has NaN"),
    ("school_id", np.nan, "column 'school_id' has missing label(s) in row(s) 7"),
])
def test_bad_values_are_named(frame, column, value, message):
    bad = frame.copy()
    bad[column] = bad[column].astype(float)
    bad.loc[7, column] = value
    snapshot = bad.copy()
    with pytest.raises(hierstan.DataError) as error:
        thai.stan_data(bad)
    assert message in str(error.value)
    pd.testing.assert_frame_equal(bad, snapshot)


def test_sex_must_be_binary_for_covariates(frame):
    bad = frame.assign(sex=frame["sex"].replace({1: 2}))
    with pytest.raises(hierstan.DataError, match="column 'sex' must be 0 or 1"):
        _prepare(bad, variant="covariates")
    _prepare(bad, variant="random_slope")  # sex is not used there


def test_other_names_and_bad_arguments(frame):
    renamed = frame.rename(columns={"repeat": "held_back", "school_id": "sid"})
    prepared = _prepare(renamed, outcome="held_back", group="sid")
    assert prepared.outcome == "held_back" and prepared.data["N"] == 8582
    with pytest.raises(hierstan.DataError, match="missing column"):
        thai.stan_data(renamed)
    with pytest.raises(hierstan.UnknownNameError, match="thai column argument"):
        thai.stan_data(frame, pupil="x")
    with pytest.raises(hierstan.UnknownNameError):
        thai.stan_data(frame, variant="random_everything")
    with pytest.raises(hierstan.DataError, match="hyper_scale"):
        thai.stan_data(frame, priors={"hyper_scale": 0})
    with pytest.raises(hierstan.DataError, match="schools must be an integer >= 2"):
        thai.stan_data(frame, schools=1)


def test_pupil_likelihood_on_request_and_auto_choice(frame):
    assert _prepare(frame, likelihood="pupils").data["use_cells"] == 0
    # one pupil per school: as many cells as pupils, so auto falls back to pupils
    single = frame.drop_duplicates("school_id")
    assert _prepare(single).attrs["likelihood"] == "pupils"


def test_random_slope_is_non_centered_about_each_school_pped_share(frame):
    share = frame.groupby("school_id")["pped"].mean().to_numpy()
    centre = _prepare(frame, variant="random_slope").data["pped_centre"]
    np.testing.assert_allclose(centre, share)
    assert share.min() == 0 and share.max() == 1  # from no pped pupils to all of them
    assert not _prepare(frame, parameterization="noncentered_plain").data["pped_centre"].any()
