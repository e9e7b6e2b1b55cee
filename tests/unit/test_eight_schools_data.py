"""Validation and marshalling of eight-schools data (no compilation)."""

import numpy as np
import pandas as pd
import pytest
from frames import spoil

import hierstan
from hierstan import DataError, UnknownNameError
from hierstan.models import eight_schools


@pytest.fixture
def frame():
    return eight_schools.load_data()


def test_shipped_data_marshalled_with_labels(frame):
    prepared = eight_schools.stan_data()
    assert prepared.program == "eight_schools" and prepared.data["centered"] == [0] * 8
    assert prepared.coords == {"school": list("ABCDEFGH")}
    assert prepared.data["J"] == 8
    np.testing.assert_array_equal(prepared.data["y"], frame["y"])
    np.testing.assert_array_equal(prepared.data["sigma"], frame["sigma"])
    assert prepared.data["mu_scale"] == 5.0 and prepared.data["tau_scale"] == 5.0
    assert prepared.data["prior_only"] == 0
    assert prepared.dims["theta"] == ["school"]


def test_own_column_names_and_priors(frame):
    renamed = frame.rename(columns={"school": "id", "y": "effect", "sigma": "se"})
    prepared = eight_schools.stan_data(
        renamed, parameterization="centered", priors={"tau_scale": 2.5}, group="id", outcome="effect",
        sigma="se"
    )
    assert prepared.program == "eight_schools" and prepared.data["centered"] == [1] * 8
    assert prepared.data["tau_scale"] == 2.5 and prepared.data["mu_scale"] == 5.0
    assert "parameterization='auto'" in prepared.divergence_advice


BAD_FRAMES = {
    "missing column": (lambda f: f.drop(columns="sigma"), "missing column(s) 'sigma'"),
    "NaN in y": (lambda f: spoil(f, "y", 2, np.nan).astype({"y": float}), "'y' has NaN or infinite"),
    "inf in y": (lambda f: spoil(f, "y", 5, np.inf).astype({"y": float}), "row(s) 5"),
    "sigma zero": (lambda f: spoil(f, "sigma", 3, 0).astype({"sigma": float}), "'sigma' must be > 0"),
    "sigma negative": (lambda f: spoil(f, "sigma", 1, -4.0).astype({"sigma": float}), "row(s) 1"),
    "non-numeric": (lambda f: spoil(f, "y", 4, "twelve"), "non-numeric value(s) in row(s) 4"),
    "duplicated label": (lambda f: spoil(f, "school", 7, "A"), "['A'] appear more than once"),
    "missing label": (lambda f: spoil(f, "school", 0, None), "missing label(s) in row(s) 0"),
    "empty": (lambda f: f.iloc[0:0], "no rows"),
}


@pytest.mark.parametrize("case", BAD_FRAMES)
def test_bad_data_raises_and_leaves_frame_alone(frame, case):
    spoil, message = BAD_FRAMES[case]
    bad = spoil(frame)
    before = bad.copy(deep=True)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        eight_schools.stan_data(bad)
    pd.testing.assert_frame_equal(bad, before)


def test_not_a_dataframe():
    with pytest.raises(DataError, match="expected a pandas DataFrame"):
        eight_schools.stan_data({"y": [1.0]})


@pytest.mark.parametrize("priors, message", [
    ({"tau_scale": 0}, "'tau_scale' must be finite and > 0"),
    ({"mu_scale": -1.0}, "'mu_scale' must be finite and > 0"),
    ({"mu_scale": float("nan")}, "'mu_scale' must be finite"),
    ({"mu_scale": "5"}, "must be a number"),
    ({"sigma_scale": 1.0}, "unknown prior setting 'sigma_scale'"),
])
def test_bad_prior_settings(priors, message):
    with pytest.raises(DataError, match=message):
        eight_schools.stan_data(priors=priors)


def test_unknown_variant_engine_model():
    with pytest.raises(UnknownNameError, match="unknown parameterization 'uncentered'.*noncentered"):
        eight_schools.stan_data(parameterization="uncentered")
    with pytest.raises(UnknownNameError, match="unknown engine 'jags'"):
        hierstan.eight_schools.fit(engine="jags")
    with pytest.raises(UnknownNameError, match="unknown model 'nine_schools'"):
        hierstan.get_family("nine_schools")
    assert hierstan.get_family("eight-schools") is eight_schools.family


@pytest.mark.parametrize("setting", [{"chains": 0}, {"draws": 2.5}, {"seed": -1}, {"adapt_delta": 1.0},
                                     {"warmup": -5}, {"max_treedepth": True}])
def test_bad_sampler_settings(setting):
    with pytest.raises(DataError, match=next(iter(setting))):
        hierstan.eight_schools.fit(**setting)
