"""Exam data: design columns, bad input, the simulator and the ranking (no compilation)."""

import arviz as az
import numpy as np
import pandas as pd
import pytest
from frames import spoil

from hierstan import DataError, UnknownNameError
from hierstan.models import exam


@pytest.fixture(scope="module")
def frame():
    return exam.load_data()


def test_shipped_data_and_design(frame):
    prepared = exam.stan_data()
    d = prepared.data
    assert (d["N"], d["J"]) == (1978, 38) and d["X"].shape == (1978, 8)
    assert prepared.coords["school"] == [str(s) for s in range(1, 39)]
    assert prepared.coords["fixed"] == list(exam.FIXED) and prepared.dims["a"] == ["school", "coefficient"]
    X = pd.DataFrame(d["X"], columns=exam.FIXED)
    # counts from data/README.md: bands 521 / 1160 / 297 pupils; 5 boys', 12 girls' schools;
    # 3 CE, 9 RC, 3 other
    assert d["vr1"].sum() == 521 and X["vr2"].sum() == 1160
    per_school = X.groupby(d["school"]).first()
    assert per_school["boys_school"].sum() == 5 and per_school["girls_school"].sum() == 12
    assert per_school[["church_of_england", "roman_catholic", "other_denom"]].sum().tolist() == [3, 9, 3]
    np.testing.assert_allclose(X["lrt2"], frame["lrt"] ** 2)
    # boys' schools have only boys and girls' schools only girls (the verified labels)
    assert X.loc[X["boys_school"] == 1, "girl"].eq(0).all()
    assert X.loc[X["girls_school"] == 1, "girl"].eq(1).all()
    assert "R" not in d and exam.stan_data(variant="bugs").data["R"].shape == (3, 3)
    assert d["coef_scale"] == 10 and exam.stan_data(variant="bugs").data["coef_scale"] == 100


@pytest.mark.parametrize("column, value, message", [
    ("vr_band", 4, "'vr_band' must be one of 1, 2, 3; row(s) 10 have 4"),
    ("school_gender", "coed", "'school_gender' must be one of 'mixed', 'boys', 'girls'; row(s) 10"),
    ("school_denom", "jewish", "'school_denom' must be one of 'state'"),
    ("girl", 2, "'girl' must be 0 or 1; row(s) 10"),
    ("score", np.nan, "'score' has NaN or infinite value(s) in row(s) 10"),
    ("school", None, "missing label(s) in row(s) 10"),
])
def test_bad_values_are_named(frame, column, value, message):
    spoiled = spoil(frame, column, 10, value)
    before = spoiled.copy()
    with pytest.raises(DataError) as caught:
        exam.stan_data(spoiled)
    assert message in str(caught.value)
    pd.testing.assert_frame_equal(spoiled, before)


def test_school_level_values_must_be_constant_within_a_school(frame):
    # row 10 is in school 1 (mixed, state); give one pupil a different school type
    for column, value in (("school_gender", "boys"), ("school_denom", "other")):
        with pytest.raises(DataError, match=rf"{column}.*in school 1 pupils have different values"):
            exam.stan_data(spoil(frame, column, 10, value))


def test_other_arguments(frame):
    with pytest.raises(UnknownNameError):
        exam.stan_data(variant="wishart")
    with pytest.raises(DataError, match="missing column"):
        exam.stan_data(frame.drop(columns="lrt"))
    with pytest.raises(DataError, match="tau_scale"):
        exam.stan_data(priors={"tau_scale": -1})
    with pytest.raises(DataError, match="unknown prior setting 'tau_scale'"):
        exam.stan_data(variant="bugs", priors={"tau_scale": 1})
    renamed = frame.rename(columns={"score": "y", "school": "sid"})
    assert exam.stan_data(renamed, outcome="y", group="sid").outcome == "y"
    assert exam.stan_data(standardise=False).data["standardise"] == 0


def test_simulation_uses_the_real_design(frame):
    data, truth = exam.simulate(seed=3)
    again, _ = exam.simulate(seed=3)
    pd.testing.assert_frame_equal(data, again)
    assert truth["a"].shape == (38, 3)
    pd.testing.assert_frame_equal(data.drop(columns="score"), frame.drop(columns="score"))
    # the residuals of the true mean have the true heteroscedastic scale
    table, _ = exam.design(data)
    a = truth["a"][table["school"] - 1]
    mu = a[:, 0] + a[:, 1] * table["lrt"] + a[:, 2] * table["vr1"] + table[list(exam.FIXED)] @ truth["beta"]
    z = (data["score"] - mu) / np.exp(-0.5 * (truth["theta"] + truth["phi"] * table["lrt"]))
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.05
    with pytest.raises(UnknownNameError):
        exam.simulate({"sigma": 1.0})


def _posterior_of(a):
    """InferenceData with school coefficients a of shape (chain, draw, school, 3)."""
    schools = [f"s{j}" for j in range(a.shape[2])]
    idata = az.from_dict(posterior={"a": a}, dims={"a": ["school", "coefficient"]},
                         coords={"school": schools, "coefficient": list(exam.COEFFICIENTS)})
    idata.posterior.attrs.update(variant="lkj", group_dim="school")
    return idata


def test_ranks_are_permutations_with_1_for_the_highest():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 50, 12, 3))
    ranks = exam.school_ranks(_posterior_of(a)).values
    assert (np.sort(ranks, axis=-1) == np.arange(1, 13)).all()
    highest = a[..., 0].argmax(axis=-1)
    assert (np.take_along_axis(ranks, highest[..., None], axis=-1) == 1).all()
    lrt = exam.school_ranks(_posterior_of(a), "lrt").values
    assert (np.take_along_axis(lrt, a[..., 1].argmin(axis=-1)[..., None], axis=-1) == 12).all()
    with pytest.raises(UnknownNameError):
        exam.school_ranks(_posterior_of(a), "slope")


def test_league_table_probabilities_match_the_ranks():
    # school j's intercept is j plus noise that can swap it only with its neighbours
    rng = np.random.default_rng(1)
    a = np.zeros((4, 250, 10, 3))
    a[..., 0] = np.arange(10) + rng.uniform(-0.6, 0.6, size=(4, 250, 10))
    table = exam.league_table(_posterior_of(a), top=3)
    assert table["school"].tolist()[:2] == ["s9", "s8"] and table["school"].iloc[-1] == "s0"
    row = table.set_index("school")
    assert row.loc["s9", "rank_q025"] == 1 and row.loc["s9", "rank_q975"] <= 2
    assert row.loc["s0", "rank_q025"] >= 9
    assert row.loc["s9", "p_top3"] == 1 and row.loc["s0", "p_bottom3"] == 1 and row.loc["s5", "p_top3"] == 0
    # s9 always beats s7, so s7 is out of the top 3 exactly when both s8 and s6 beat it
    intercept = a[..., 0]
    out = (intercept[..., 8] > intercept[..., 7]) & (intercept[..., 6] > intercept[..., 7])
    assert row.loc["s7", "p_top3"] == pytest.approx(1 - out.mean()) and 0 < out.mean() < 1
    # probabilities agree with the 95% intervals
    assert (table.loc[table["rank_q975"] <= 3, "p_top3"] >= 0.975).all()
    assert (table.loc[table["rank_q025"] > 3, "p_top3"] <= 0.025).all()
    with pytest.raises(DataError, match="top must be between 1 and the number of groups"):
        exam.league_table(_posterior_of(a), top=11)
