"""Radon data checks, marshalling and the sufficient-statistic likelihood (no compilation)."""

import numpy as np
import pandas as pd
import pytest
from frames import spoil
from scipy import stats

from hierstan import DataError, UnknownNameError
from hierstan.models import radon


@pytest.fixture(scope="module")
def frame():
    return radon.load_data()


def test_shipped_data(frame):
    prepared = radon.stan_data()
    assert prepared.data["N"] == 919 and prepared.data["J"] == 85
    assert prepared.coords["county"][0] == "AITKIN" and "ST LOUIS" in prepared.coords["county"]
    assert prepared.program == "radon_varying_intercept_slope"
    assert prepared.attrs["parameterization"] == "auto" and len(prepared.data["centered_slope"]) == 85
    assert prepared.attrs["likelihood"] == "cells" and prepared.data["use_cells"] == 1
    assert prepared.data["cell_n"].sum() == 919
    # county indices follow the labels: AITKIN is county 1 and has 4 houses
    assert (prepared.data["county"] == 1).sum() == (frame["county"] == "AITKIN").sum() == 4


def test_cell_likelihood_equals_house_likelihood(frame):
    rng = np.random.default_rng(3)
    prepared = radon.stan_data()
    d = prepared.data
    a, b, sigma = rng.normal(1.5, 0.5, d["J"]), rng.normal(-0.6, 0.3, d["J"]), 0.8
    houses = stats.norm.logpdf(d["y"], a[d["county"] - 1] + b[d["county"] - 1] * d["x"], sigma).sum()
    m = a[d["cell_county"] - 1] + b[d["cell_county"] - 1] * d["cell_x"]
    cells = (-d["N"] * np.log(sigma) - d["N"] / 2 * np.log(2 * np.pi)
             - (d["within_ss"] + (d["cell_n"] * (d["cell_mean"] - m) ** 2).sum()) / (2 * sigma**2))
    assert cells == pytest.approx(houses, rel=1e-12)


def test_own_column_names_and_continuous_predictor(frame):
    own = frame.rename(columns={"log_radon": "lr", "floor": "storey", "county": "area"})
    prepared = radon.stan_data(own, variant="pooled", outcome="lr", predictor="storey", group="area")
    assert prepared.program == "radon_pooled" and prepared.outcome == "lr"
    # a continuous predictor makes every house its own cell: auto falls back to per-house
    own["storey"] = own["storey"] + np.random.default_rng(0).normal(0, 0.1, len(own))
    prepared = radon.stan_data(own, variant="pooled", outcome="lr", predictor="storey", group="area")
    assert prepared.attrs["likelihood"] == "houses" and prepared.data["use_cells"] == 0
    # asked for explicitly, the cells stay exact (one house each) and are used
    assert radon.stan_data(own, variant="pooled", outcome="lr", predictor="storey", group="area",
                           likelihood="cells").data["use_cells"] == 1


@pytest.mark.parametrize("spoil, kwargs, message", [
    (lambda f: f, {"outcome": "radon"}, "missing column(s) 'radon'"),
    (lambda f: spoil(f, "log_radon", 10, np.nan).astype({"log_radon": float}), {}, "'log_radon' has NaN"),
    (lambda f: spoil(f, "floor", 3, "first"), {}, "'floor' must be numeric"),
    (lambda f: spoil(f, "county", 7, None), {}, "missing label(s) in row(s) 7"),
    (lambda f: spoil(f, "log_uranium", 0, 5.0).astype({"log_uranium": float}), {"variant": "group_predictor"},
     "'log_uranium' must be constant within each county; it varies in ['AITKIN']"),
    (lambda f: f.iloc[:0], {}, "no rows"),
])
def test_bad_input(frame, spoil, kwargs, message):
    bad = spoil(frame)
    before = bad.copy(deep=True)
    with pytest.raises(DataError) as error:
        radon.stan_data(bad, **kwargs)
    assert message in str(error.value)
    pd.testing.assert_frame_equal(bad, before)


def test_unknown_names():
    with pytest.raises(UnknownNameError, match="unknown radon variant 'partial'"):
        radon.stan_data(variant="partial")
    with pytest.raises(UnknownNameError, match="unknown parameterization"):
        radon.stan_data(parameterization="uncentered")
    with pytest.raises(UnknownNameError, match="unknown likelihood"):
        radon.stan_data(likelihood="sufficient")


def test_simulate_draws_from_the_model():
    frame, truth = radon.simulate(J=400, N=20_000, seed=5)
    assert len(frame) == 20_000 and frame["county"].nunique() == 400
    assert frame.equals(radon.simulate(J=400, N=20_000, seed=5)[0])
    codes = radon.stan_data(frame).data["county"] - 1
    # the returned county effects generated the rows: residuals are normal(0, sigma_y)
    residual = frame["log_radon"] - truth["alpha"][codes] - truth["beta"][codes] * frame["floor"]
    assert abs(residual.mean()) < 4 * truth["sigma_y"] / np.sqrt(len(frame))
    assert abs(residual.std() / truth["sigma_y"] - 1) < 4 / np.sqrt(2 * len(frame))
    # and the county effects come from the population distribution
    for name, mean, sd in (("alpha", "mu_alpha", "sigma_alpha"), ("beta", "mu_beta", "sigma_beta")):
        assert stats.kstest(truth[name], "norm", args=(truth[mean], truth[sd])).pvalue > 1e-3
    assert abs(frame["floor"].mean() - 0.2) < 4 * np.sqrt(0.16 / len(frame))


def test_simulate_refuses_fewer_houses_than_counties():
    with pytest.raises(DataError, match="N >= J"):
        radon.simulate(J=10, N=5)
