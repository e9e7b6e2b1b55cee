"""Exam family on the available engine: clean sampling on the real data, lkj against bugs,
ranks, and the coverage of known parameters by intervals from data simulated at a small design."""

import warnings

import arviz as az
import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy.stats import binom

import hierstan
from hierstan.models import exam

SEED = 11
DATA_SETS = 40  # simulated in the coverage test (2 s a fit)
PUPILS = 20  # per school in them: 619 of the 1978


def _fit(data=None, **arguments):
    with warnings.catch_warnings():  # sampler problems are asserted through hierstan.diagnose
        warnings.simplefilter("ignore")
        return exam.fit(data, progress=False, **{"seed": SEED, **arguments})


@pytest.fixture(scope="module")
def fits():
    # bugs' Wishart prior mixes slower: over seeds 1-8 its max R-hat at 4 x 1000 draws spread
    # from 1.004 to 1.024 (median 1.013) under either warmup, so it gets twice the draws
    return {v: _fit(variant=v, draws=2000 if v == "bugs" else 1000) for v in exam.VARIANTS}


def test_lkj_samples_cleanly_on_the_real_data(fits):
    idata = fits["lkj"]
    report = hierstan.diagnose(idata)
    assert report.divergences == 0 and report.treedepth_hits == 0, str(report)
    assert report.rhat_max <= 1.01, str(report)
    ess = az.ess(idata, var_names=["beta", "gamma", "theta", "phi", "tau"])
    assert min(float(ess[name].min()) for name in ess.data_vars) >= 400, ess
    assert idata.posterior["a"].dims == ("chain", "draw", "school", "coefficient")
    assert list(idata.posterior["beta"]["fixed"].values) == list(exam.FIXED)


def test_covariance_prior_matters_little_for_the_fixed_effects(fits):
    report = hierstan.diagnose(fits["bugs"])
    # Omega[intercept, lrt] is weakly identified under the Wishart prior and mixes slowest (max
    # R-hat 1.004-1.024 over seeds 1-8): the whole fit must not have failed, and the compared
    # quantities must have mixed to the usual 1.01
    assert report.divergences == 0 and report.rhat_max <= 1.05, str(report)
    lkj, bugs = (az.summary(fits[v], var_names=["beta", "gamma", "theta", "phi"], round_to="none")
                 for v in exam.VARIANTS)
    rhat = max(lkj["r_hat"].max(), bugs["r_hat"].max())
    assert rhat <= 1.01, rhat
    # 38 schools: the fixed effects move by well under their posterior sd between the priors
    # (seed 1: at most 0.31 sd, church_of_england, although tau[lrt] is ten times larger in bugs)
    allowed = 0.5 * np.maximum(lkj["sd"], bugs["sd"]) + 4 * np.hypot(lkj["mcse_mean"], bugs["mcse_mean"])
    far = (lkj["mean"] - bugs["mean"]).abs() > allowed
    assert not far.any(), (lkj[far], bugs[far])


def test_ranks_and_league_table(fits):
    idata = fits["lkj"]
    ranks = exam.school_ranks(idata).values
    assert (np.sort(ranks, axis=-1) == np.arange(1, 39)).all()
    table = exam.league_table(idata)
    assert len(table) == 38
    assert ((table["rank_q025"] <= table["median_rank"]) & (table["median_rank"] <= table["rank_q975"])).all()
    assert (table.loc[table["rank_q975"] <= 5, "p_top5"] >= 0.975).all()
    assert (table.loc[table["rank_q025"] > 5, "p_top5"] <= 0.025).all()
    assert (table.loc[table["rank_q025"] > 33, "p_bottom5"] >= 0.975).all()
    # the top of the table has the highest posterior mean intercepts
    assert table["intercept_mean"].iloc[0] > table["intercept_mean"].iloc[-1]
    assert isinstance(exam.caterpillar_plot(idata, "vr1"), Figure)


def test_central_intervals_cover_the_truth_at_their_nominal_rate():
    """Data sets simulated from known parameters at a small design (the first PUPILS pupils of
    each school; new school coefficients and scores each time), each fitted on short chains: the
    90% central intervals of the 13 population coefficients (gamma, beta, theta, phi) miss the
    truth as often as a binomial count of misses at rate 0.1 may (central 99.9%: 31-76 of 520;
    these seeds: 63). Misses within a data set are not independent (three church-of-England
    schools that drew high intercepts push beta[church_of_england] off, and gamma[intercept] with
    it), hence the wide bound."""
    small = exam.load_data().groupby("school", group_keys=False).head(PUPILS)
    misses = []
    for seed in range(DATA_SETS):
        data, truth = exam.simulate(data=small, seed=seed)
        idata = _fit(data, chains=2, draws=300, warmup=300, seed=seed + 1)
        assert hierstan.diagnose(idata).divergences == 0, seed
        post = idata.posterior
        for name in ("gamma", "beta", "theta", "phi"):
            low, high = (post[name].quantile(q, ("chain", "draw")).values for q in (0.05, 0.95))
            outside = np.atleast_1d((truth[name] < low) | (truth[name] > high))
            misses += [f"{seed}: {name}[{k}]" for k in np.flatnonzero(outside)]
    fewest, most = binom.ppf([0.0005, 0.9995], DATA_SETS * 13, 0.1)
    assert fewest <= len(misses) <= most, (len(misses), fewest, most, misses)
