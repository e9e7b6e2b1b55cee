"""The formula family against maximum likelihood (statsmodels' MixedLM) on simulated data."""

import numpy as np
import pandas as pd
import pytest

import hierstan
from hierstan.models import glmm

pytestmark = pytest.mark.slow
smf = pytest.importorskip("statsmodels.formula.api")

SHORT = {"chains": 4, "draws": 500, "warmup": 500, "progress": False}


def correlated_slope(seed=3, groups=50, rows=5000):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, rows)
    x = rng.normal(size=rows)
    p = rng.choice(["a", "b", "c"], rows)
    sd, rho = np.array([0.8, 0.4]), 0.5
    cov = np.outer(sd, sd) * np.array([[1, rho], [rho, 1]])
    u = rng.multivariate_normal([0, 0], cov, groups)
    y = (1.0 + 0.7 * x + 0.5 * (p == "b") - 0.3 * (p == "c") + u[g, 0] + u[g, 1] * x
         + rng.normal(0, 1.2, rows))
    return pd.DataFrame({"y": y, "x": x, "p": p, "g": [f"s{j:02d}" for j in g]})


def crossed(seed=4, first=50, second=30, rows=5000):
    """Two crossed factors, the first with a correlated slope."""
    rng = np.random.default_rng(seed)
    g, h = rng.integers(0, first, rows), rng.integers(0, second, rows)
    x = rng.normal(size=rows)
    sd, rho = np.array([0.6, 0.3]), -0.4
    u = rng.multivariate_normal([0, 0], np.outer(sd, sd) * np.array([[1, rho], [rho, 1]]), first)
    y = 2.0 - 0.4 * x + u[g, 0] + u[g, 1] * x + rng.normal(0, 0.3, second)[h] + rng.normal(0, 1, rows)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{j}" for j in g], "h": [f"h{j}" for j in h]})


def within_one_sd(draws, reference):
    mean, sd = float(draws.mean()), float(draws.std())
    assert abs(mean - reference) < sd, (mean, sd, reference)


def test_a_correlated_slope_agrees_with_maximum_likelihood():
    df = correlated_slope()
    idata = glmm.family.fit(df, formula="y ~ x + C(p) + (1 + x | g)", seed=1, **SHORT)
    report = hierstan.diagnose(idata)
    assert report.divergences == 0 and report.rhat_max <= 1.01, str(report)
    ml = smf.mixedlm("y ~ x + C(p)", df, groups=df["g"], re_formula="~x").fit(reml=False)
    post = idata.posterior
    assert list(post["coef"].values) == ["Intercept", "x", "C(p)[b]", "C(p)[c]"]
    for label, name in zip(post["coef"].values, ["Intercept", "x", "C(p)[T.b]", "C(p)[T.c]"]):
        within_one_sd(post["b"].sel(coef=label), ml.fe_params[name])
    sd = np.sqrt(np.diag(ml.cov_re.values))
    within_one_sd(post["sd_g"].sel(g_term="Intercept"), sd[0])
    within_one_sd(post["sd_g"].sel(g_term="x"), sd[1])
    within_one_sd(post["corr_g"].sel(g_term="x", g_term2="Intercept"), ml.cov_re.values[0, 1] / sd.prod())
    within_one_sd(post["sigma"], np.sqrt(ml.scale))
    # each school's effects against the ML fit's predicted ones (BLUPs), label by label
    blups = pd.DataFrame(ml.random_effects).T
    means = post["r_g"].mean(("chain", "draw")).to_pandas()
    sds = post["r_g"].std(("chain", "draw")).to_pandas()
    gap = (means.loc[blups.index].to_numpy() - blups.to_numpy()) / sds.loc[blups.index].to_numpy()
    assert np.abs(gap).max() < 1, np.abs(gap).max()


def test_crossed_factors_with_a_correlated_slope_agree_with_maximum_likelihood():
    from reference.crossed_lmm_ml import fit as ml_fit

    df = crossed()
    # crossed factors mix slowly along the shift of one factor's effects against the other's
    # (R-hat 1.017-1.025 at 4 x 500 draws, 1.005-1.014 at 4 x 1000 over seeds 2-4, with either
    # metric): more draws and a looser bound until that is solved (docs/models.md §7)
    idata = glmm.family.fit(df, formula="y ~ x + (1 + x | g) + (1 | h)", seed=2,
                            **{**SHORT, "draws": 1000, "warmup": 1000})
    report = hierstan.diagnose(idata)
    assert report.divergences == 0 and report.rhat_max <= 1.02, str(report)
    # MixedLM cannot cross a factor with a correlated slope: the reference's own ML (checked
    # against MixedLM where both apply, tests/unit/test_reference_lmm.py)
    ml = ml_fit(df, "y", ["Intercept", "x"], {"g": ["Intercept", "x"], "h": ["Intercept"]})
    post = idata.posterior
    for label in ("Intercept", "x"):
        within_one_sd(post["b"].sel(coef=label), ml["b"][label])
        within_one_sd(post["sd_g"].sel(g_term=label), ml["sd"]["g"][label])
    within_one_sd(post["corr_g"].sel(g_term="x", g_term2="Intercept"), ml["corr"]["g"])
    within_one_sd(post["sd_h"].sel(h_term="Intercept"), ml["sd"]["h"]["Intercept"])
    within_one_sd(post["sigma"], ml["sigma"])
    # each factor's table: its levels, rows and effects
    table = hierstan.group_table(idata, group="h")
    assert list(table["h"]) == list(post["h"].values) and table["n"].sum() == len(df)
    assert hierstan.group_table(idata)["n"].sum() == len(df)
    with pytest.raises(hierstan.HierstanError, match="no grouping factor 'k'.*'g', 'h'"):
        hierstan.group_table(idata, group="k")


def test_a_three_term_blocks_correlations_have_the_lkj_marginals():
    """Prior draws of a block of three correlated terms: under LKJ(eta) in dimension 3, each
    correlation is Beta(a, a) on (-1, 1) with a = eta - 1 + 3/2, variance 1 / (2a + 1). Checks the
    program's Cholesky factor from partial correlations and its Jacobian (without it, the
    third row's first correlation has variance 0.38 instead of 0.28 at eta 0.8)."""
    import arviz as az

    data = glmm.load_data()
    data = data[data["county"].isin(data["county"].unique()[:6])]
    eta = 0.8
    idata = glmm.fit(data, formula="log_radon ~ floor + activity + (1 + floor + activity | county)",
                     prior=True, chains=4, draws=1000, warmup=500, seed=1, progress=False,
                     priors={"lkj_eta": eta}, parameterization="noncentered")
    corr = idata.prior["corr_county"]
    expected = 1 / (2 * (eta - 1 + 1.5) + 1)
    for i, j in ((1, 0), (2, 0), (2, 1)):
        squared = corr.isel(county_term=i, county_term2=j) ** 2
        ess = float(az.ess(squared.to_dataset(name="r2"))["r2"])
        error = float(squared.std()) / np.sqrt(ess)
        mean = float(squared.mean())
        assert abs(mean - expected) < 4 * error, (i, j, mean, expected, error)


def one_factor(likelihood, seed=5, groups=40, rows=2000):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, rows)
    x = rng.normal(size=rows)
    if likelihood == "poisson":
        y = rng.poisson(np.exp(0.5 + 0.3 * x + rng.normal(0, 0.5, groups)[g]))
    else:
        y = rng.binomial(1, 1 / (1 + np.exp(-(-0.4 + 0.8 * x + rng.normal(0, 0.8, groups)[g]))))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{j}" for j in g]})


@pytest.mark.parametrize("likelihood", ["bernoulli", "poisson"])
def test_one_factor_count_and_binary_models_agree_with_quadrature(likelihood):
    from reference.glmm_quadrature import random_intercept_logit_mle
    from reference.poisson_quadrature import random_intercept_poisson_mle

    df = one_factor(likelihood)
    idata = glmm.fit(df, formula="y ~ x + (1 | g)", likelihood=likelihood, seed=4, **SHORT)
    report = hierstan.diagnose(idata)
    assert report.divergences == 0 and report.rhat_max <= 1.01, str(report)
    X = np.column_stack([np.ones(len(df)), df["x"]])
    y = df["y"].to_numpy(float)
    if likelihood == "poisson":
        ml = random_intercept_poisson_mle(y, X, df["g"].to_numpy())
        sd = ml["sigma"]
    else:
        ml = random_intercept_logit_mle(y, X, df["g"].to_numpy())
        sd = np.sqrt(ml["sigma2"])
    post = idata.posterior
    within_one_sd(post["b"].sel(coef="Intercept"), ml["beta"][0])
    within_one_sd(post["b"].sel(coef="x"), ml["beta"][1])
    within_one_sd(post["sd_g"].sel(g_term="Intercept"), sd)
