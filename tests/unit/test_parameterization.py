"""The automatic choice of centered or non-centered group effects (hierstan.parameterization):
its pilot estimates against closed forms and an independent quadrature reference, and its rule."""

import numpy as np
import pandas as pd
import pytest
from reference.glmm_quadrature import random_intercept_logit_mle
from scipy import stats
from scipy.special import expit

from hierstan import eight_schools, mathtest, multigroup, radon, thai
from hierstan.parameterization import (
    choose,
    group_regression,
    logistic_scales,
    population_scale,
)


def test_reml_scale_is_the_closed_form_for_equal_variances():
    # equal variances v: REML tau^2 = sample variance (n - 1 divisor) - v, when positive; the
    # profile bound solves (n - 1) (log(tau^2 + v) + s2 / (tau^2 + v)) = its minimum + 2.71
    rng = np.random.default_rng(0)
    estimates, v = rng.normal(0, 1.5, 40), 0.25
    s2 = np.var(estimates, ddof=1)
    tau, lower = population_scale(estimates, np.full(40, v), np.ones((40, 1)))
    assert tau == pytest.approx(np.sqrt(s2 - v), rel=1e-4)

    def deviance(t2):
        return 39 * (np.log(t2 + v) + s2 / (t2 + v))

    assert deviance(lower**2) == pytest.approx(deviance(s2 - v) + 2.71, abs=1e-3)
    assert 0 < lower < tau


def test_scale_indistinguishable_from_zero_centers_no_group():
    # estimates whose spread is their own noise: the bound reaches 0, every group non-centered,
    # however precise a single group is
    rng = np.random.default_rng(1)
    variances = np.full(30, 1.0)
    variances[0] = 1e-6
    choice = choose("theta", "tau", rng.normal(0, 1, 30), variances)
    assert choice.lower == 0 and not choice.centered.any()
    assert "cannot tell it from 0" in choice.describe("school")


def test_rule_centers_the_groups_whose_data_dominate():
    # 200 groups, tau = 1; sampling variance 0.01 for the first half (data dominate), 100 for the rest
    rng = np.random.default_rng(2)
    variances = np.repeat([0.01, 100.0], 100)
    estimates = rng.normal(0, 1, 200) + rng.normal(0, np.sqrt(variances))
    choice = choose("alpha", "sigma_alpha", estimates, variances)
    assert 0.7 < choice.lower < choice.scale < 1.4
    assert choice.centered[:100].all() and not choice.centered[100:].any()
    # a group without an estimate (infinite variance) is non-centered
    variances[0] = np.inf
    assert not choose("alpha", "sigma_alpha", estimates, variances).centered[0]


def test_group_regression_matches_least_squares_per_group():
    rng = np.random.default_rng(3)
    codes = np.repeat(np.arange(4), 30)
    X = np.column_stack([np.ones(120), rng.normal(size=120)])
    X[codes == 3, 1] = 2.0  # group 3: constant predictor, slope not identified
    y = X[:, 0] * codes + X[:, 1] * (1 - codes) + rng.normal(0, 0.5, 120)
    coef, variance, noise = group_regression(y, X, codes, 4)
    rss, df = 0.0, 0
    for g in range(3):
        fit = np.linalg.lstsq(X[codes == g], y[codes == g], rcond=None)
        assert coef[g] == pytest.approx(fit[0], rel=1e-8)
        rss, df = rss + fit[1][0], df + 28
    rss += np.sum((y[codes == 3] - y[codes == 3].mean()) ** 2)
    assert noise == pytest.approx(rss / (df + 29), rel=1e-8)
    assert np.isinf(variance[3]).all() and np.isfinite(variance[:3]).all()
    inverse = np.linalg.inv(X[codes == 0].T @ X[codes == 0])
    assert variance[0] == pytest.approx(noise * np.diag(inverse), rel=1e-8)


def test_logistic_pilot_matches_the_quadrature_reference():
    # random-intercept logistic on the shipped Thai data (pped as covariate): the pilot's
    # marginal ML against tests/reference's adaptive 25-node quadrature
    data = thai.load_data()
    y, pped = data["repeat"].to_numpy(), data["pped"].to_numpy(float)
    codes = pd.factorize(data["school_id"], sort=True)[0]
    X = np.column_stack([np.ones(len(y)), pped])
    reference = random_intercept_logit_mle(y, X, codes)
    cells = pd.DataFrame({"school": codes, "pped": pped, "y": y}).groupby(["school", "pped"])["y"] \
        .agg(n="size", y="sum").reset_index()
    fixed = np.column_stack([np.ones(len(cells)), cells["pped"]])
    b, scale, lower, p = logistic_scales(cells["school"].to_numpy(), cells["n"].to_numpy(float),
                                         cells["y"].to_numpy(float), fixed, np.ones((len(cells), 1)),
                                         codes.max() + 1)
    assert b == pytest.approx(reference["beta"], abs=0.02)
    assert scale[0] == pytest.approx(np.sqrt(reference["sigma2"]), rel=0.02)
    expected = np.exp(reference["log_sigma"] - stats.norm.ppf(0.95) * reference["log_sigma_se"])
    assert lower[0] == pytest.approx(expected, rel=0.03)
    assert p == pytest.approx(expit(fixed @ reference["beta"]), abs=0.01)


def test_logistic_pilot_recovers_simulated_scales_and_flags_a_null_slope():
    # 300 schools of 40 pupils, intercept sd 1.0, slope sd 0: the slope's bound is 0
    rng = np.random.default_rng(4)
    school = np.repeat(np.arange(300), 40)
    x = rng.integers(0, 2, len(school)).astype(float)
    y = rng.binomial(1, expit(-1 + 0.5 * x + rng.normal(0, 1.0, 300)[school]))
    cells = pd.DataFrame({"school": school, "x": x, "y": y}).groupby(["school", "x"])["y"] \
        .agg(n="size", y="sum").reset_index()
    design = np.column_stack([np.ones(len(cells)), cells["x"]])
    _, scale, lower, _ = logistic_scales(cells["school"].to_numpy(), cells["n"].to_numpy(float),
                                         cells["y"].to_numpy(float), design, design, 300)
    assert 0.8 < scale[0] < 1.2 and 0.7 < lower[0] < scale[0]
    assert lower[1] == 0


def test_balanced_regimes_switch_from_noncentered_to_centered():
    # radon-like data, 300 counties: 2 houses each -> no intercept centered; 100 each -> all
    counts = {}
    for n in (2, 100):
        frame, _ = radon.simulate(J=300, N=300 * n, design="balanced", seed=5)
        prepared = radon.stan_data(frame)
        counts[n] = (sum(prepared.data["centered"]), sum(prepared.data["centered_slope"]))
        assert prepared.attrs["parameterization"] == "auto"
        assert "sigma_alpha" in prepared.attrs["parameterization_choice"]
    assert counts[2] == (0, 0) and counts[100][0] >= 290


@pytest.mark.parametrize("form", ["centered", "noncentered"])
def test_forced_forms_set_every_flag(form):
    expected = int(form == "centered")
    assert set(radon.stan_data(parameterization=form).data["centered_slope"]) == {expected}
    for family in (eight_schools, mathtest, multigroup, thai):
        prepared = family.stan_data(parameterization=form)
        assert set(prepared.data["centered"]) == {expected}
        assert prepared.attrs["parameterization_choice"] == ""


def test_shipped_data_choices():
    # eight schools: tau's REML estimate is ~0 -> all non-centered; multigroup: 2 groups of 1000
    # rows -> both centered; Thai random_slope: the slope sd cannot be told from 0 -> no school
    # has both effects pinned -> all non-centered
    assert sum(eight_schools.stan_data().data["centered"]) == 0
    assert multigroup.stan_data().data["centered"] == [1, 1]
    assert sum(thai.stan_data().data["centered"]) == 0
    assert sum(thai.stan_data(variant="random_intercept").data["centered"]) > 350
