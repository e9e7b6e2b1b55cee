"""Checks of the quadrature maximum-likelihood reference for the random-intercept logistic regression."""

import numpy as np
import pytest
from reference.glmm_quadrature import aggregate, marginal_log_lik, random_intercept_logit_mle, school_log_lik
from scipy import stats
from scipy.integrate import quad
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit

BETA = np.array([-1.0, 0.5, -0.7, 0.4])
SIGMA2 = 0.8


def simulate(seed, n_schools, n_pupils, beta=BETA, sigma2=SIGMA2):
    """Intercept, pupil binary, pupil continuous and school-level covariate; equal-sized schools."""
    rng = np.random.default_rng(seed)
    n = n_schools * n_pupils
    group = np.repeat(np.arange(n_schools), n_pupils)
    X = np.column_stack([np.ones(n), rng.integers(0, 2, n), rng.normal(size=n),
                         np.repeat(rng.normal(size=n_schools), n_pupils)])
    a = rng.normal(0.0, np.sqrt(sigma2), n_schools)
    return rng.binomial(1, expit(X @ beta + a[group])), X, group


def small_data():
    """Five unequal schools with string labels, repeated covariate rows, an all-0 and an all-1 school."""
    rng = np.random.default_rng(11)
    sizes = [4, 9, 17, 25, 6]
    group = np.repeat(["e", "b", "d", "a", "c"], sizes)
    n = len(group)
    X = np.column_stack([np.ones(n), rng.integers(0, 2, n), rng.integers(-2, 3, n) / 2.0])
    y = rng.binomial(1, expit(X @ np.array([-0.3, 0.9, 0.6]) + rng.normal(0.0, 1.2, n)))
    y[group == "e"] = 0
    y[group == "c"] = 1
    return y, X, group


def brute_force_school_log_lik(y, X, beta, sigma):
    """log of int prod_i Bernoulli(y_i | inv_logit(x_i' beta + a)) normal(a | 0, sigma^2) da by quad."""
    xb = X @ beta

    def log_f(a):
        return stats.bernoulli.logpmf(y, expit(xb + a)).sum() + stats.norm.logpdf(a, 0.0, sigma)

    peak = minimize_scalar(lambda a: -log_f(a), bounds=(-20.0, 20.0), method="bounded",
                           options={"xatol": 1e-10})
    mode, top = peak.x, -peak.fun
    # the integrand is negligible (< exp(-200)) beyond 20 prior sds of the mode
    half = 20.0 * sigma
    value, _ = quad(lambda a: np.exp(log_f(a) - top), mode - half, mode + half, points=[mode],
                    epsabs=0.0, epsrel=1e-13, limit=500)
    return top + np.log(value)


def fit_glm(y, X):
    """Ordinary logistic regression by maximum likelihood."""
    def nll(beta):
        eta = X @ beta
        return np.sum(np.logaddexp(0.0, eta) - y * eta), X.T @ (expit(eta) - y)

    res = minimize(nll, np.zeros(X.shape[1]), jac=True, method="BFGS", options={"gtol": 1e-9})
    return res.x, -res.fun


@pytest.fixture(scope="module")
def recovery():
    y, X, group = simulate(seed=2024, n_schools=300, n_pupils=30)
    fit25 = random_intercept_logit_mle(y, X, group, nodes=25)
    # starting at the 25-node optimum only saves time; BFGS must still reach the 40-node optimum
    fit40 = random_intercept_logit_mle(y, X, group, nodes=40, start=np.r_[fit25["beta"], fit25["log_sigma"]])
    return (y, X, group), fit25, fit40


def test_aggregation_keeps_pupils_and_successes():
    y, X, group = small_data()
    cells = aggregate(y, X, group)
    assert cells.m.sum() == len(y) and cells.k.sum() == y.sum()
    assert len(cells.k) < len(y)  # repeated rows were pooled
    assert list(cells.groups) == ["a", "b", "c", "d", "e"]
    assert np.all(np.diff(cells.school) >= 0) and len(cells.starts) == 5


# s = 3 makes the all-0 and all-1 schools' integrands so skewed that 25 nodes miss by ~3e-7; 100 do not
@pytest.mark.parametrize("beta, sigma, nodes", [([-0.3, 0.9, 0.6], 1.2, 25), ([0.5, -1.0, 2.0], 0.4, 25),
                                                ([-2.0, 0.0, 1.0], 3.0, 100)])
def test_quadrature_equals_brute_force_integral(beta, sigma, nodes):
    y, X, group = small_data()
    beta = np.array(beta)
    cells = aggregate(y, X, group)
    expected = [brute_force_school_log_lik(y[group == g], X[group == g], beta, sigma) for g in cells.groups]
    np.testing.assert_allclose(school_log_lik(cells, beta, sigma, nodes), expected, rtol=0, atol=1e-8)
    total = marginal_log_lik(y, X, group, beta, sigma, nodes)
    assert total == pytest.approx(sum(expected), rel=0, abs=1e-8)


def test_brute_force_comparison_detects_too_few_nodes():
    # guards against a comparison too loose to fail: a 2-node rule must miss by more than the tolerance
    y, X, group = small_data()
    beta = np.array([-2.0, 0.0, 1.0])
    expected = sum(brute_force_school_log_lik(y[group == g], X[group == g], beta, 3.0)
                   for g in np.unique(group))
    assert abs(marginal_log_lik(y, X, group, beta, 3.0, nodes=2) - expected) > 1e-5


def test_25_nodes_agree_with_40(recovery):
    _, fit25, fit40 = recovery
    assert fit25["converged"] and fit40["converged"]
    np.testing.assert_allclose(fit25["beta"], fit40["beta"], rtol=0, atol=1e-6)
    assert fit25["sigma2"] == pytest.approx(fit40["sigma2"], abs=1e-6)
    assert fit25["loglik"] == pytest.approx(fit40["loglik"], abs=1e-5)
    np.testing.assert_allclose(fit25["beta_se"], fit40["beta_se"], rtol=1e-4)


def test_simulation_recovers_truth_within_3_se(recovery):
    data, fit, _ = recovery
    assert fit["n_groups"] == 300 and fit["cov"].shape == (5, 5)
    # the reported variance is on the scale the likelihood uses (s^2, not s)
    loglik = marginal_log_lik(*data, fit["beta"], np.sqrt(fit["sigma2"]))
    assert fit["loglik"] == pytest.approx(loglik, rel=0, abs=1e-9)
    assert np.all(np.abs(fit["beta"] - BETA) < 3.0 * fit["beta_se"])
    assert abs(fit["sigma2"] - SIGMA2) < 3.0 * fit["sigma2_se"]
    # the standard errors are of the size expected for 9000 pupils, not degenerate
    assert np.all((fit["beta_se"] > 0.01) & (fit["beta_se"] < 0.2)) and 0.02 < fit["sigma2_se"] < 0.3
    assert fit["sigma2_se"] == pytest.approx(2.0 * fit["sigma2"] * fit["log_sigma_se"])


def test_standard_errors_match_outer_product_of_scores(recovery):
    # per-school scores by central differences give the OPG (BHHH) information, an estimate independent
    # of the Hessian that should agree with it up to sampling noise (~5% here)
    data, fit, _ = recovery
    cells = aggregate(*data)
    theta = np.r_[fit["beta"], fit["log_sigma"]]
    h = 1e-5
    scores = np.column_stack([
        (school_log_lik(cells, (theta + e)[:-1], np.exp((theta + e)[-1]))
         - school_log_lik(cells, (theta - e)[:-1], np.exp((theta - e)[-1]))) / (2.0 * h)
        for e in h * np.eye(len(theta))])
    assert np.max(np.abs(scores.sum(axis=0))) < 1e-3  # the estimate is a stationary point
    se_opg = np.sqrt(np.diag(np.linalg.inv(scores.T @ scores)))
    np.testing.assert_allclose(np.r_[fit["beta_se"], fit["log_sigma_se"]], se_opg, rtol=0.15)


def test_vanishing_school_variance_gives_logistic_regression():
    y, X, group = simulate(seed=5, n_schools=150, n_pupils=20, sigma2=0.0)
    beta_glm, loglik_glm = fit_glm(y, X)
    # the marginal likelihood tends to the ordinary one as s -> 0
    assert marginal_log_lik(y, X, group, beta_glm, 1e-6) == pytest.approx(loglik_glm, rel=0, abs=1e-8)
    p = expit(X @ beta_glm)
    se_glm = np.sqrt(np.diag(np.linalg.inv(X.T @ (X * (p * (1.0 - p))[:, None]))))
    fit = random_intercept_logit_mle(y, X, group)
    assert fit["converged"] and fit["sigma2"] < 0.05
    assert fit["loglik"] >= loglik_glm - 1e-6  # the model nests logistic regression
    # SEs are not used: with s^2 estimated at 0 the Hessian can be singular and they may be NaN
    np.testing.assert_array_less(np.abs(fit["beta"] - beta_glm), 0.2 * se_glm)
