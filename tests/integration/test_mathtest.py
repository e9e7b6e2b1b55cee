"""Math-test hierarchical normal in Stan on the available engine: clean sampling, agreement with the
Gibbs sampler and with the exact posterior (quadrature, tests/reference/normal_hierarchy.py), the
per-student layout, prior draws, a one-student school, and the reproduce outputs."""

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
from reference.normal_hierarchy import grid_posterior
from scipy import stats

import hierstan
import hierstan.reporting
from hierstan.models import mathtest

SEED = 3
PARAMETERS = list(mathtest.PARAMETERS)


def _fit(data=None, **arguments):
    with warnings.catch_warnings():  # sampler problems are asserted through hierstan.diagnose
        warnings.simplefilter("ignore")
        return mathtest.fit(data, progress=False, seed=SEED, **arguments)


def _summary(idata, names=("mu", "sigma2", "tau2", "theta")):
    return az.summary(idata, var_names=list(names), round_to="none")


def _assert_agree(first, second, slack=1e-3):
    """Posterior means and sds within 4 combined Monte Carlo standard errors (plus a small slack,
    a fraction of the posterior sd)."""
    for statistic in ("mean", "sd"):
        allowed = 4 * np.hypot(first[f"mcse_{statistic}"], second[f"mcse_{statistic}"]) + slack * first["sd"]
        far = (first[statistic] - second[statistic]).abs() > allowed
        assert not far.any(), (statistic, pd.concat({"first": first[far], "second": second[far]}, axis=1))


@pytest.fixture(scope="module")
def stan_fit():
    return _fit()


@pytest.fixture(scope="module")
def chain():
    return mathtest.gibbs(seed=SEED)


@pytest.fixture(scope="module")
def exact():
    data = mathtest.load_data()
    return grid_posterior(data["mathscore"], data["school"], mathtest.PRIORS)


def test_full_bayes_samples_cleanly(stan_fit):
    report = hierstan.diagnose(stan_fit)
    assert report.divergences == 0, str(report)
    assert report.rhat_max <= 1.01, str(report)
    assert report.ess_bulk_min >= 1000 and report.ok, str(report)


def test_stan_and_gibbs_agree(stan_fit, chain):
    _assert_agree(_summary(stan_fit), _summary(chain))


def test_stan_matches_the_exact_posterior(stan_fit, exact):
    summary = _summary(stan_fit)
    for name in PARAMETERS:
        row = summary.loc[name]
        assert abs(row["mean"] - exact["mean"][name]) <= 4 * row["mcse_mean"], name
        assert abs(row["sd"] - exact["sd"][name]) <= 4 * row["mcse_sd"] + 1e-3 * row["sd"], name
    theta = summary.filter(like="theta", axis=0)
    assert (np.abs(theta["mean"].to_numpy() - exact["theta"]) <= 4 * theta["mcse_mean"].to_numpy()).all()


def test_per_student_layout(stan_fit):
    assert stan_fit.log_likelihood["mathscore"].dims == ("chain", "draw", "student")
    assert stan_fit.posterior_predictive["mathscore"].shape == (4, 1000, 1993)
    post = stan_fit.posterior
    assert post["theta"].dims == ("chain", "draw", "school") and post["school"].values[66] == "67"
    # auto centers every school but the smallest: there theta is sampled itself, z_theta not
    centered = np.array(mathtest.stan_data().data["centered"], dtype=bool)
    assert (~centered).sum() == 1
    np.testing.assert_array_equal(post["theta"].values[..., centered], post["z_theta"].values[..., centered])
    assert not np.allclose(post["theta"].values[..., ~centered], post["z_theta"].values[..., ~centered])
    # log_lik is the normal density of each student's score, by scipy, at a few draws
    y = stan_fit.observed_data["mathscore"].values
    index = stan_fit.constant_data["school_index"].values
    for chain, draw in [(0, 0), (2, 517), (3, 999)]:
        at = {"chain": chain, "draw": draw}
        expected = stats.norm.logpdf(y, post["theta"].isel(at).values[index],
                                     np.sqrt(float(post["sigma2"].isel(at))))
        np.testing.assert_allclose(stan_fit.log_likelihood["mathscore"].isel(at).values, expected, rtol=1e-8)
    # replicated scores spread like the observed ones
    assert np.std(stan_fit.posterior_predictive["mathscore"].values) == pytest.approx(np.std(y), rel=0.05)


def test_noncentered_gives_the_same_posterior(chain):
    idata = _fit(parameterization="noncentered")
    report = hierstan.diagnose(idata)
    assert report.divergences == 0, str(report)
    _assert_agree(_summary(idata), _summary(chain))


def test_prior_draws_follow_the_priors():
    """Prior draws (non-centered whatever the variant): gamma and normal moments from scipy."""
    idata = _fit(prior=True)
    assert int(idata.sample_stats_prior["diverging"].sum()) == 0
    prior = _summary(idata.prior, ["mu", "lambda", "omega"])
    p = mathtest.PRIORS
    for name, law in [("lambda", stats.gamma(p["a"], scale=1 / p["b"])),
                      ("omega", stats.gamma(p["c"], scale=1 / p["d"])),
                      ("mu", stats.norm(p["nu"], 1 / np.sqrt(p["phi"])))]:
        assert abs(prior.loc[name, "mean"] - law.mean()) <= 4 * prior.loc[name, "mcse_mean"], name
    # the population distribution: theta - mu has sd sqrt(tau^2 sigma^2) draw by draw
    z = (idata.prior["theta"] - idata.prior["mu"]) * np.sqrt(idata.prior["lambda"] * idata.prior["omega"])
    assert stats.kstest(z.values[:, ::10, 0].ravel(), "norm").pvalue > 0.001


def test_a_one_student_school(chain):
    data = mathtest.load_data()
    first = data.index[data["school"] == 67][0]
    data = data[(data["school"] != 67) | (data.index == first)]
    idata = _fit(data)
    assert int(idata.constant_data["school_n"].sel(school="67")) == 1
    report = hierstan.diagnose(idata)
    assert report.divergences == 0 and report.rhat_max <= 1.01, str(report)
    _assert_agree(_summary(idata), _summary(mathtest.gibbs(data, seed=SEED)))
    # its one score is pulled most of the way to mu
    table = mathtest.school_table(idata).set_index("school")
    assert table["kappa"].idxmax() == "67" and table.loc["67", "kappa"] > 0.6


def test_reproduce_writes_the_results(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        written = hierstan.reporting.mathtest(tmp_path, seed=SEED, progress=False)
    assert {p.name for p in written} == {f"mathtest_{name}" for name in (
        "summary.csv", "estimates.csv", "estimates.md", "schools.csv", "schools.md", "shrinkage.png")}
    assert all(p.exists() for p in written)
    assert (tmp_path / "mathtest_shrinkage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    estimates = pd.read_csv(tmp_path / "mathtest_estimates.csv", index_col=0)
    allowed = 4 * np.hypot(estimates["stan_mcse"], estimates["gibbs_mcse"]) + 1e-3 * estimates["stan_sd"]
    assert ((estimates["stan_mean"] - estimates["gibbs_mean"]).abs() <= allowed).all()
    # EB and full Bayes: the same data, 100 schools; within half a standard error of each other
    assert ((estimates["stan_mean"] - estimates["eb_estimate"]).abs() <= 0.5 * estimates["eb_se"]).all()
    schools = pd.read_csv(tmp_path / "mathtest_schools.csv", dtype={"school": str})
    assert len(schools) == 100 and schools["fb_kappa"].between(0, 1).all()
    # school means move from the raw mean towards mu (seen where they are more than a point apart;
    # nearer, the uncertainty in mu blurs the direction), small schools the most
    mu = estimates.loc["mu", "stan_mean"]
    apart = schools[(schools["raw_mean"] - mu).abs() > 1]
    assert len(apart) > 80
    assert ((apart["fb_mean"] - mu) / (apart["raw_mean"] - mu)).between(0, 1).all()
    small = schools.set_index("school").loc[["67", "17"]]
    assert (small["fb_kappa"] > schools["fb_kappa"].median()).all()
    text = (tmp_path / "mathtest_schools.md").read_text()
    assert "school 17 (7 students)" in text and "school 67 (4 students)" in text
    summary = pd.read_csv(tmp_path / "mathtest_summary.csv", index_col=[0, 1])
    assert set(summary.index.get_level_values("method")) == {"stan_auto", "stan_centered", "stan_noncentered",
                                                             "gibbs"}
