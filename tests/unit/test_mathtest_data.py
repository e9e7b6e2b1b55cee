"""Math-test data preparation, empirical Bayes and the Gibbs sampler (no compilation).

Independent numbers: per-student normal densities from scipy, maximum likelihood from each
school's score vector as a multivariate normal (tests/reference/normal_hierarchy.py), and the exact
posterior means by quadrature on a grid.
"""

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
from reference.normal_hierarchy import grid_posterior, mvn_log_likelihood, mvn_mle
from scipy import stats

import hierstan
from hierstan.models import mathtest


@pytest.fixture(scope="module")
def frame():
    return mathtest.load_data()


@pytest.fixture(scope="module")
def eb():
    return mathtest.empirical_bayes()


@pytest.fixture(scope="module")
def grid(frame):
    return grid_posterior(frame["mathscore"], frame["school"], mathtest.PRIORS)


@pytest.fixture(scope="module")
def chain():
    return mathtest.gibbs(seed=11)


def _agree(summary, reference, names, k=4.0):
    """Posterior means within k Monte Carlo standard errors of exact values."""
    for name in names:
        mean, mcse = summary.loc[name, "mean"], summary.loc[name, "mcse_mean"]
        assert abs(mean - reference[name]) <= k * mcse, (name, mean, reference[name], mcse)


def test_shipped_data_and_labels(frame):
    prepared = mathtest.stan_data()
    d = prepared.data
    assert d["N"] == 1993 and d["J"] == 100
    assert d["school_n"].min() == 4 and d["school_n"].max() == 32 and d["school_n"].sum() == 1993
    assert prepared.coords["school"][:3] == ["1", "2", "3"] and prepared.coords["school"][-1] == "100"
    assert prepared.dims["theta"] == ["school"] and prepared.dims["mathscore"] == ["student"]
    # auto: every school centered but the smallest (4 students), whose mean says less than the
    # spread between schools at the low end the data allow
    smallest = int(np.argmin(d["school_n"]))
    assert d["centered"] == [int(i != smallest) for i in range(100)] and d["school_n"][smallest] == 4
    assert mathtest.stan_data(parameterization="noncentered").data["centered"] == [0] * 100
    # school 67 has 4 students: its statistics, by pandas
    scores = frame.loc[frame["school"] == 67, "mathscore"]
    i = prepared.coords["school"].index("67")
    assert d["school_n"][i] == 4 and d["school_sum"][i] == pytest.approx(scores.sum())
    assert d["school_ss"][i] == pytest.approx(scores.var(ddof=0) * 4)


def test_sufficient_statistics_give_the_per_student_likelihood():
    """The Stan model block's likelihood, written with (n, sum, ss) per school, equals the sum of
    the per-student normal log-densities."""
    d = mathtest.stan_data().data
    rng = np.random.default_rng(2)
    for _ in range(3):
        theta, lam = rng.normal(48, 6, d["J"]), rng.gamma(5, 0.002)
        students = stats.norm.logpdf(d["y"], theta[d["school"] - 1], 1 / np.sqrt(lam)).sum()
        n, ybar = d["school_n"], d["school_sum"] / d["school_n"]
        schools = (0.5 * d["N"] * (np.log(lam) - np.log(2 * np.pi))
                   - 0.5 * lam * (d["school_ss"].sum() + np.dot(n, (ybar - theta) ** 2)))
        assert schools == pytest.approx(students, rel=1e-12)


def test_closed_form_marginal_likelihood_is_the_multivariate_normal(frame):
    d = mathtest.stan_data().data
    n, ybar = d["school_n"], d["school_sum"] / d["school_n"]
    scores = [g.to_numpy() for _, g in frame.groupby("school")["mathscore"]]
    for mu, sigma2, tau2 in [(48.0, 85.0, 0.27), (40.0, 30.0, 2.0), (55.0, 200.0, 0.01)]:
        closed = mathtest.marginal_log_likelihood(mu, sigma2, tau2, n, ybar, d["school_ss"])
        assert closed == pytest.approx(mvn_log_likelihood(mu, sigma2, tau2, scores), rel=1e-12)


def test_empirical_bayes_matches_direct_maximum_likelihood(frame, eb):
    ml = mvn_mle(frame["mathscore"], frame["school"])
    assert ml["converged"] and eb.converged
    estimates = eb.estimates
    # the same maximum: to a thousandth of a standard error
    np.testing.assert_allclose(estimates["estimate"], ml["estimate"], atol=0, rtol=1e-6)
    assert np.all(np.abs(estimates["estimate"] - ml["estimate"]) <= 1e-3 * ml["se"])
    assert eb.log_likelihood == pytest.approx(ml["log_likelihood"], abs=1e-6)
    # analytic curvature against finite differences of the multivariate normal likelihood
    np.testing.assert_allclose(estimates["se"], ml["se"], rtol=1e-3)
    assert list(eb.covariance.index) == list(mathtest.PARAMETERS)


def test_empirical_bayes_shrinkage(frame, eb):
    mu, sigma2, tau2 = eb.estimates["estimate"]
    raw = frame.groupby("school")["mathscore"].agg(["size", "mean"])
    schools = eb.schools.set_index("school")
    np.testing.assert_allclose(schools["raw_mean"], raw["mean"])
    # posterior mean of theta given the estimates: precision-weighted data mean and mu
    weighted = (raw["size"] * raw["mean"] + mu / tau2) / (raw["size"] + 1 / tau2)
    np.testing.assert_allclose(schools["eb_mean"], weighted)
    np.testing.assert_allclose(schools["eb_sd"], np.sqrt(1 / ((raw["size"] + 1 / tau2) / sigma2)))
    # kappa falls with school size; the shrunken mean lies between the raw mean and mu
    by_size = schools.sort_values("n")
    assert (np.diff(by_size["kappa"]) <= 0).all() and by_size["kappa"].between(0, 1).all()
    assert ((schools["eb_mean"] - mu) / (schools["raw_mean"] - mu)).between(0, 1).all()


def test_the_extreme_small_schools_are_67_and_17(frame, eb):
    raw = frame.groupby("school")["mathscore"].agg(["size", "mean"])
    # school 67: 4 students and the highest raw mean of all; school 17: 7 students, among the lowest
    assert raw["mean"].idxmax() == 67 and raw.loc[67, "size"] == 4
    assert raw.loc[17, "size"] == 7 and (raw["mean"] < raw.loc[17, "mean"]).sum() == 2
    assert list(mathtest.extreme_small_schools(eb.schools)["school"]) == ["17", "67"]


def test_gibbs_layout_and_seed(chain):
    post = chain.posterior
    assert set(post.data_vars) == {"mu", "lambda", "omega", "sigma2", "tau2", "theta"}
    assert post["theta"].dims == ("chain", "draw", "school") and list(post["school"].values[:2]) == ["1", "2"]
    assert post.sizes["chain"] == 4 and post.sizes["draw"] == 5000
    assert post.attrs["variant"] == "gibbs" and post.attrs["seed"] == 11
    np.testing.assert_allclose(post["sigma2"], 1 / post["lambda"])
    assert chain.observed_data["mathscore"].dims == ("student",)
    again = mathtest.gibbs(seed=11, draws=50, warmup=10)
    same = mathtest.gibbs(seed=11, draws=50, warmup=10)
    other = mathtest.gibbs(seed=12, draws=50, warmup=10)
    np.testing.assert_array_equal(again.posterior["mu"], same.posterior["mu"])
    assert not np.array_equal(again.posterior["mu"], other.posterior["mu"])


def test_gibbs_matches_the_exact_posterior(chain, grid):
    assert grid["edge_mass"] < 1e-10
    summary = az.summary(chain, var_names=["mu", "sigma2", "tau2", "theta"], round_to="none")
    assert summary["r_hat"].max() <= 1.01 and summary["ess_bulk"].min() >= 1000
    _agree(summary, grid["mean"], mathtest.PARAMETERS)
    theta = summary.filter(like="theta", axis=0)
    assert (np.abs(theta["mean"].to_numpy() - grid["theta"]) <= 4 * theta["mcse_mean"].to_numpy()).all()
    # and the posterior sds, to 3%
    for name in mathtest.PARAMETERS:
        assert summary.loc[name, "sd"] == pytest.approx(grid["sd"][name], rel=0.03)


def test_gibbs_uses_the_priors_given(frame):
    """A tight prior on mu far from the data, and on tau^2: the sampler follows them as the exact
    posterior does."""
    priors = {**mathtest.PRIORS, "nu": 30.0, "phi": 1.0, "c": 50.0, "d": 5.0}
    exact = grid_posterior(frame["mathscore"], frame["school"], priors)
    chain = mathtest.gibbs(priors={"nu": 30.0, "phi": 1.0, "c": 50.0, "d": 5.0}, seed=5)
    summary = az.summary(chain, var_names=list(mathtest.PARAMETERS), round_to="none")
    assert exact["mean"]["mu"] < 46  # the prior moved it
    _agree(summary, exact["mean"], mathtest.PARAMETERS)


def _one_student_school(frame):
    """School 67 cut to its first student."""
    first = frame.index[frame["school"] == 67][0]
    return frame[(frame["school"] != 67) | (frame.index == first)]


def test_a_school_with_one_student_is_handled(frame):
    data = _one_student_school(frame)
    d = mathtest.stan_data(data).data
    i = mathtest.stan_data(data).coords["school"].index("67")
    assert d["school_n"][i] == 1 and d["school_ss"][i] == 0 and d["N"] == 1990
    eb = mathtest.empirical_bayes(data)
    assert eb.converged
    ml = mvn_mle(data["mathscore"], data["school"])
    np.testing.assert_allclose(eb.estimates["estimate"], ml["estimate"], rtol=1e-6)
    # the one-student school is shrunk the most
    assert eb.schools["kappa"].idxmax() == i
    chain = mathtest.gibbs(data, seed=2, draws=2000)
    exact = grid_posterior(data["mathscore"], data["school"], mathtest.PRIORS)
    summary = az.summary(chain, var_names=["theta"], coords={"school": ["67"]}, round_to="none")
    assert abs(summary["mean"].iloc[0] - exact["theta"][i]) <= 4 * summary["mcse_mean"].iloc[0]


def test_empirical_bayes_refuses_what_it_cannot_estimate(frame):
    singles = frame.drop_duplicates("school")
    with pytest.raises(hierstan.DataError, match="every school has one student"):
        mathtest.empirical_bayes(singles)
    mathtest.stan_data(singles)  # full Bayes still can: the priors make the posterior proper
    # one school: tau^2, the spread between schools, is refused by every fit
    with pytest.raises(hierstan.DataError, match="'school' must hold at least 2 groups"):
        mathtest.empirical_bayes(frame[frame["school"] == 1])


def test_tau2_at_its_boundary_warns():
    # identical school means: no between-school variation at all
    rng = np.random.default_rng(0)
    scores = np.concatenate([v - v.mean() + 50 for v in rng.normal(50, 10, (20, 10))])
    data = pd.DataFrame({"school": np.repeat(np.arange(20), 10), "mathscore": scores})
    with pytest.warns(hierstan.DataWarning, match="tau\\^2 is estimated at its boundary"):
        eb = mathtest.empirical_bayes(data)
    estimate, se = eb.estimates["estimate"], eb.estimates["se"]
    assert eb.converged and estimate["tau2"] < 1e-6 and np.isnan(se["tau2"])
    # with tau^2 = 0 the model is one normal sample: the ML mean and variance and their SEs
    assert estimate["mu"] == pytest.approx(scores.mean())
    assert estimate["sigma2"] == pytest.approx(scores.var())
    assert se["mu"] == pytest.approx(np.sqrt(scores.var() / 200), rel=1e-4)
    assert se["sigma2"] == pytest.approx(scores.var() * np.sqrt(2 / 200), rel=1e-4)
    assert (eb.schools["kappa"] > 0.9999).all()


@pytest.mark.parametrize("column, value, message", [
    ("mathscore", -3.0, "column 'mathscore' holds test scores and must be >= 0; row(s) 7 are negative"),
    ("mathscore", np.nan, "column 'mathscore' has NaN or infinite value(s) in row(s) 7"),
    ("mathscore", "abc", "column 'mathscore' must be numeric"),
    ("school", np.nan, "column 'school' has missing label(s) in row(s) 7"),
])
def test_bad_values_are_named_and_the_frame_is_untouched(frame, column, value, message):
    bad = frame.astype({column: object if isinstance(value, str) else float})
    bad.loc[7, column] = value
    snapshot = bad.copy()
    for call in (mathtest.stan_data, mathtest.empirical_bayes, mathtest.gibbs):
        with pytest.raises(hierstan.DataError) as error:
            call(bad)
        assert message in str(error.value)
    pd.testing.assert_frame_equal(bad, snapshot)


def test_no_schools_and_missing_columns(frame):
    with pytest.raises(hierstan.DataError, match="has no rows"):
        mathtest.stan_data(frame.iloc[:0])
    with pytest.raises(hierstan.DataError, match="has no rows"):
        mathtest.empirical_bayes(pd.DataFrame({"school": [], "mathscore": []}))
    with pytest.raises(hierstan.DataError, match="missing column"):
        mathtest.stan_data(frame.rename(columns={"mathscore": "score"}))
    with pytest.raises(hierstan.DataError, match="expected a pandas DataFrame"):
        mathtest.stan_data(frame.to_numpy())


def test_column_names_and_untouched_frame(frame):
    renamed = frame.rename(columns={"mathscore": "score", "school": "sid"})
    renamed.index = renamed.index + 1000
    snapshot = renamed.copy()
    prepared = mathtest.stan_data(renamed, outcome="score", group="sid")
    assert prepared.outcome == "score" and prepared.coords["student"][0] == 1000
    eb = mathtest.empirical_bayes(renamed, outcome="score", group="sid")
    chain = mathtest.gibbs(renamed, outcome="score", group="sid", draws=20, warmup=5, seed=1)
    assert "score" in chain.observed_data and len(eb.schools) == 100
    pd.testing.assert_frame_equal(renamed, snapshot)
    with pytest.raises(hierstan.UnknownNameError, match="mathtest column argument"):
        mathtest.stan_data(frame, pupil="x")
    with pytest.raises(hierstan.UnknownNameError):
        mathtest.stan_data(frame, variant="pooled")


def test_priors_are_data_and_validated():
    d = mathtest.stan_data(priors={"nu": -10.0, "b": 2.0}).data
    assert d["nu"] == -10.0 and d["b"] == 2.0 and d["a"] == mathtest.PRIORS["a"]
    # defaults are proper: every shape and rate > 0
    assert all(mathtest.PRIORS[k] > 0 for k in ("a", "b", "c", "d", "phi"))
    for bad, message in [({"phi": 0.0}, "'phi' must be finite and > 0"), ({"a": -1.0}, "'a' must be finite"),
                         ({"nu": np.inf}, "'nu' must be finite, got inf"), ({"e": 1.0}, "unknown prior")]:
        with pytest.raises(hierstan.DataError, match=message):
            mathtest.stan_data(priors=bad)


def test_registered_as_a_family():
    assert hierstan.get_family("mathtest") is mathtest.family and hierstan.mathtest is mathtest
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mathtest.stan_data()
