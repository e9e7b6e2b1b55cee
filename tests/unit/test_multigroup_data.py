"""Simulation, validation and marshalling of the G-group regression (no compilation)."""

import re

import numpy as np
import pandas as pd
import pytest
from frames import spoil
from scipy import stats

from hierstan import DataError, UnknownNameError
from hierstan.models import multigroup


@pytest.fixture
def frame():
    return multigroup.load_data()


# --- the simulator ---------------------------------------------------------------------------

def test_default_simulation_is_the_original_example():
    data, true_w = multigroup.simulate()
    assert list(data.columns) == ["group", "x1", "x2", "x3", "y"]
    assert len(data) == 2000
    assert data["group"].value_counts().to_dict() == {"a": 1000, "b": 1000}
    np.testing.assert_array_equal(true_w.loc["a"], [1.0, 3.5, 6.0])
    np.testing.assert_array_equal(true_w.loc["b"], [-1.0, -3.5, -6.0])
    assert list(true_w.columns) == ["x1", "x2", "x3"]
    # x ~ normal(0, 1) and y - x'w_g ~ normal(0, 0.5), to sampling error
    x = data[["x1", "x2", "x3"]].to_numpy()
    assert np.abs(x.mean(axis=0)).max() < 0.1 and np.abs(x.std(axis=0) - 1).max() < 0.05
    residual = data["y"].to_numpy() - (x * true_w.loc[data["group"]].to_numpy()).sum(axis=1)
    assert abs(residual.mean()) < 0.03 and abs(residual.std() - 0.5) < 0.02
    pd.testing.assert_frame_equal(multigroup.load_data(), data)


def test_simulation_is_reproducible_by_seed():
    first, w_first = multigroup.simulate(G=3, m=2, seed=5)
    again, w_again = multigroup.simulate(G=3, m=2, seed=5)
    other, w_other = multigroup.simulate(G=3, m=2, seed=6)
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(w_first, w_again)
    assert not np.allclose(first["x1"], other["x1"])
    assert not np.allclose(w_first, w_other)


def test_more_groups_draw_their_coefficients():
    data, true_w = multigroup.simulate(G=3, n=50, m=2, seed=1)
    assert list(data.columns) == ["group", "x1", "x2", "y"]
    assert list(true_w.index) == ["a", "b", "c"] and true_w.shape == (3, 2)
    assert data["group"].value_counts().to_dict() == {"a": 50, "b": 50, "c": 50}
    assert np.all(true_w.to_numpy() != 0) and np.unique(true_w.to_numpy()).size == 6
    many, many_w = multigroup.simulate(G=30, n=1, m=1)
    assert many_w.index[0] == "g01" and many["group"].nunique() == 30


def test_explicit_coefficients_are_used():
    w = [[2.0], [-1.0]]
    data, true_w = multigroup.simulate(n=400, m=1, w=w, noise_sd=0.1, seed=3)
    np.testing.assert_array_equal(true_w.to_numpy(), w)
    for label, slope in zip("ab", (2.0, -1.0)):
        rows = data[data["group"] == label]
        fitted = np.polyfit(rows["x1"], rows["y"], 1)[0]
        assert fitted == pytest.approx(slope, abs=0.03)


@pytest.mark.parametrize("settings, message", [
    ({"G": 1}, "G must be an integer >= 2"),
    ({"G": 2.5}, "G must be an integer"),
    ({"m": 0}, "m must be an integer >= 1"),
    ({"n": 0}, "n must be an integer >= 1"),
    ({"n": True}, "n must be an integer"),
    ({"noise_sd": 0.0}, "noise_sd must be finite and > 0"),
    ({"noise_sd": float("nan")}, "noise_sd"),
    ({"w": [[1.0, 2.0, 3.0]]}, r"shape \(G, m\) = \(2, 3\)"),
    ({"w": [[1.0, 2.0, np.inf], [1.0, 2.0, 3.0]]}, "must be finite"),
])
def test_simulation_rejects_bad_settings(settings, message):
    with pytest.raises(DataError, match=message):
        multigroup.simulate(**settings)


# --- marshalling -----------------------------------------------------------------------------

def test_default_data_marshalled_with_labels(frame):
    prepared = multigroup.stan_data()
    assert multigroup.VARIANTS[0] == "hierarchical" and multigroup.FAMILY == "multigroup"
    assert prepared.program == "multigroup_hierarchical"
    data = prepared.data
    assert (data["N"], data["G"], data["m"]) == (2000, 2, 3)
    np.testing.assert_array_equal(data["X"], frame[["x1", "x2", "x3"]].to_numpy())
    np.testing.assert_array_equal(data["y"], frame["y"])
    np.testing.assert_array_equal(data["group"], np.where(frame["group"] == "a", 1, 2))
    assert {k: data[k] for k in ("mu_w_scale", "tau_scale", "lkj_eta", "sigma_scale")} == {
        "mu_w_scale": 10.0, "tau_scale": 5.0, "lkj_eta": 2.0, "sigma_scale": 5.0}
    assert (data["sigma_prior"], data["prior_only"], data["centered"]) == (1, 0, [1] * data["G"])
    assert prepared.coords["group"] == ["a", "b"]
    assert prepared.coords["coefficient"] == ["x1", "x2", "x3"]
    np.testing.assert_array_equal(prepared.coords["obs"], np.arange(2000))
    assert prepared.dims["w"] == ["group", "coefficient"]
    assert prepared.dims["mu_w"] == prepared.dims["tau"] == ["coefficient"]
    assert prepared.dims["Omega"] == ["coefficient", "coefficient2"]
    assert prepared.dims["y"] == ["obs"]
    assert prepared.outcome == "y" and prepared.adapt_delta == 0.999
    # auto: 2 groups of 1000 rows, each pinning its w_g -> both centered
    assert prepared.attrs["parameterization"] == "auto" and prepared.data["centered"] == [1, 1]


def test_pooled_and_separate(frame):
    pooled = multigroup.stan_data(frame, variant="pooled")
    assert pooled.program == "multigroup_pooled"
    assert pooled.dims["w"] == ["coefficient"]
    assert pooled.data["w_scale"] == 10.0 and "centered" not in pooled.data
    assert "mu_w_scale" not in pooled.data
    separate = multigroup.stan_data(frame, variant="separate")
    assert separate.dims["w"] == ["group", "coefficient"] and separate.data["w_scale"] == 10.0


def test_inverse_gamma_option_has_mean_1_sd_10():
    prepared = multigroup.stan_data(sigma_prior="inv_gamma")
    assert prepared.data["sigma_prior"] == 2
    # Stan's inv_gamma(alpha, beta) is scipy's invgamma(alpha, scale=beta)
    prior = stats.invgamma(prepared.data["sigma_ig_shape"], scale=prepared.data["sigma_ig_scale"])
    assert prior.mean() == pytest.approx(1.0) and prior.std() == pytest.approx(10.0)


def test_own_columns_priors_and_predictor_order(frame):
    renamed = frame.rename(columns={"group": "site", "x1": "dose", "x2": "age", "y": "response"})
    prepared = multigroup.stan_data(
        renamed, variant="separate", group="site", predictors=["age", "dose"], outcome="response",
        priors={"w_scale": 2.5, "sigma_scale": 1.0},
    )
    assert prepared.coords["coefficient"] == ["age", "dose"] and prepared.data["m"] == 2
    np.testing.assert_array_equal(prepared.data["X"], frame[["x2", "x1"]].to_numpy())
    assert prepared.data["w_scale"] == 2.5 and prepared.data["sigma_scale"] == 1.0
    assert prepared.outcome == "response" and prepared.dims["response"] == ["obs"]
    single = multigroup.stan_data(renamed, group="site", predictors="dose", outcome="response")
    assert single.coords["coefficient"] == ["dose"]


def test_group_labels_in_natural_order_whatever_the_row_order(frame):
    # b's rows first, shuffled, with the original (now unordered) index
    shuffled = frame.iloc[::-1].sample(frac=1.0, random_state=4)
    shuffled = pd.concat([shuffled[shuffled["group"] == "b"].head(1), shuffled[1:]])
    prepared = multigroup.stan_data(shuffled)
    assert shuffled["group"].iloc[0] == "b" and prepared.coords["group"] == ["a", "b"]
    # every row's index points at its own label, and X and y keep the row order
    labels = np.array(prepared.coords["group"])[prepared.data["group"] - 1]
    np.testing.assert_array_equal(labels, shuffled["group"])
    np.testing.assert_array_equal(prepared.data["y"], shuffled["y"])


def test_numeric_labels_and_categorical_order(frame):
    numbered = frame.assign(group=np.where(frame["group"] == "a", 20, 10))
    assert multigroup.stan_data(numbered).coords["group"] == ["10", "20"]  # by value
    ordered = frame.assign(group=pd.Categorical(frame["group"], categories=["b", "a"]))
    prepared = multigroup.stan_data(ordered)
    assert prepared.coords["group"] == ["b", "a"]
    np.testing.assert_array_equal(prepared.data["group"], np.where(frame["group"] == "a", 2, 1))


def test_frame_is_not_mutated(frame):
    categorical = frame.assign(group=frame["group"].astype("category"))
    for df in (frame, categorical):
        before = df.copy(deep=True)
        multigroup.stan_data(df, variant="separate")
        pd.testing.assert_frame_equal(df, before)


# --- validation ------------------------------------------------------------------------------


BAD_FRAMES = {
    "missing outcome": (lambda f: f.drop(columns="y"), {}, "missing column(s) 'y'"),
    "unknown predictor": (lambda f: f, {"predictors": ["x1", "x9"]}, "missing column(s) 'x9'"),
    "unknown group column": (lambda f: f, {"group": "school"}, "missing column(s) 'school'"),
    "NaN outcome": (lambda f: spoil(f, "y", 17, np.nan).astype({"y": float}),
                    {}, "'y' has NaN or infinite value(s) in row(s) 17"),
    "NaN predictor": (lambda f: spoil(f, "x2", 3, np.nan).astype({"x2": float}), {}, "'x2' has NaN"),
    "inf predictor": (lambda f: spoil(f, "x3", 1500, -np.inf).astype({"x3": float}), {}, "row(s) 1500"),
    "non-numeric": (lambda f: spoil(f, "x1", 8, "high"), {}, "non-numeric value(s) in row(s) 8"),
    "missing label": (lambda f: spoil(f, "group", 0, None), {}, "missing label(s) in row(s) 0"),
    "empty": (lambda f: f.iloc[0:0], {}, "no rows"),
    "one group": (lambda f: f[f["group"] == "a"], {}, "at least 2 groups"),
    "no predictors": (lambda f: f, {"predictors": []}, r"m >= 1"),
    "no x columns": (lambda f: f.rename(columns={"x1": "a1", "x2": "a2", "x3": "a3"}), {},
                     "no predictor columns x1"),
    "outcome as predictor": (lambda f: f, {"predictors": ["x1", "y"]}, "must be distinct"),
    "repeated predictor": (lambda f: f, {"predictors": ["x1", "x1"]}, "must be distinct"),
}


@pytest.mark.parametrize("case", BAD_FRAMES)
def test_bad_data_raises_and_leaves_frame_alone(frame, case):
    spoil, arguments, message = BAD_FRAMES[case]
    bad = spoil(frame)
    before = bad.copy(deep=True)
    with pytest.raises(DataError, match=re.escape(message) if "(" in message else message):
        multigroup.stan_data(bad, **arguments)
    pd.testing.assert_frame_equal(bad, before)


def test_not_a_dataframe():
    with pytest.raises(DataError, match="expected a pandas DataFrame"):
        multigroup.stan_data({"y": [1.0]})


@pytest.mark.parametrize("variant, priors, message", [
    ("hierarchical", {"tau_scale": 0}, "'tau_scale' must be finite and > 0"),
    ("hierarchical", {"lkj_eta": -1.0}, "'lkj_eta' must be finite and > 0"),
    ("hierarchical", {"w_scale": 1.0}, "unknown prior setting 'w_scale'"),
    ("pooled", {"tau_scale": 1.0}, "unknown prior setting 'tau_scale'"),
    ("separate", {"sigma_scale": "5"}, "must be a number"),
])
def test_bad_prior_settings(variant, priors, message):
    with pytest.raises(DataError, match=message):
        multigroup.stan_data(variant=variant, priors=priors)


def test_unknown_choices():
    with pytest.raises(UnknownNameError, match="unknown multigroup variant 'partial'"):
        multigroup.stan_data(variant="partial")
    with pytest.raises(UnknownNameError, match="unknown multigroup sigma prior 'cauchy'"):
        multigroup.stan_data(sigma_prior="cauchy")
    with pytest.raises(UnknownNameError, match="unknown multigroup parameterization 'noncentred'"):
        multigroup.stan_data(parameterization="noncentred")
    with pytest.raises(DataError, match="hierarchical variant only"):
        multigroup.stan_data(variant="pooled", parameterization="noncentered")
    assert multigroup.stan_data(parameterization="noncentered").data["centered"] == [0, 0]

