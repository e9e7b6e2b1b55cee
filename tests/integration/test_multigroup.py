"""G-group regression on the available engine: recovery of simulated coefficients, agreement with
least squares computed here with numpy, and between the separate and hierarchical variants."""

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hierstan
import hierstan.reporting
from hierstan.models import multigroup

SEED = 11


def _fit(data=None, **arguments):
    # sampler warnings are asserted on explicitly, through hierstan.diagnose
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        return multigroup.fit(data, progress=False, **arguments)


@pytest.fixture(scope="module")
def default_data():
    return multigroup.simulate()


@pytest.fixture(scope="module")
def fits(default_data):
    data, _ = default_data
    return {variant: _fit(data, variant=variant, seed=SEED) for variant in multigroup.VARIANTS}


def least_squares(data, columns, rows=None):
    rows = slice(None) if rows is None else rows
    x, y = data.loc[rows, columns].to_numpy(float), data.loc[rows, "y"].to_numpy(float)
    coefficients, rss, *_ = np.linalg.lstsq(x, y, rcond=None)
    return coefficients, float(rss[0])


def _means(idata, name="w"):
    summary = az.summary(idata, var_names=[name], round_to="none")
    return summary["mean"], summary["mcse_mean"]


def test_separate_and_hierarchical_intervals_cover_the_truth(fits, default_data):
    _, true_w = default_data
    for variant in ("separate", "hierarchical"):
        w = fits[variant].posterior["w"]
        low, high = w.quantile([0.05, 0.95], dim=("chain", "draw"))
        truth = true_w.to_numpy()
        assert low.dims == ("group", "coefficient")
        assert np.all((low.values <= truth) & (truth <= high.values)), (variant, low.values, high.values)


def test_separate_matches_least_squares_per_group(fits, default_data):
    data, true_w = default_data
    mean, mcse = _means(fits["separate"])
    rss = 0.0
    for label in true_w.index:
        ols, group_rss = least_squares(data, list(true_w.columns), data["group"] == label)
        rss += group_rss
        for column, value in zip(true_w.columns, ols):
            name = f"w[{label}, {column}]"
            assert abs(mean[name] - value) <= 4 * mcse[name] + 0.01, (name, mean[name], value)
    # sigma: the residual sd of the two least-squares fits
    sigma = fits["separate"].posterior["sigma"].mean().item()
    assert sigma == pytest.approx(np.sqrt(rss / len(data)), abs=0.01)


def test_pooled_matches_pooled_least_squares(fits, default_data):
    data, true_w = default_data
    ols, _ = least_squares(data, list(true_w.columns))
    assert np.abs(ols).max() < 0.5  # w_b = -w_a: the pooled fit averages them towards 0
    mean, mcse = _means(fits["pooled"])
    for column, value in zip(true_w.columns, ols):
        name = f"w[{column}]"
        assert abs(mean[name] - value) <= 4 * mcse[name] + 0.01, (name, mean[name], value)
    assert fits["pooled"].posterior["w"].dims == ("chain", "draw", "coefficient")


def test_hierarchical_agrees_with_separate(fits):
    hierarchical, mcse_h = _means(fits["hierarchical"])
    separate, mcse_s = _means(fits["separate"])
    for name in separate.index:
        allowed = 4 * np.hypot(mcse_h[name], mcse_s[name]) + 0.01
        assert abs(hierarchical[name] - separate[name]) <= allowed, (name, hierarchical[name], separate[name])


def test_every_variant_samples_cleanly(fits):
    for variant, idata in fits.items():
        report = hierstan.diagnose(idata)
        assert report.rhat_max <= 1.01, (variant, str(report))
        assert report.treedepth_hits == 0, (variant, str(report))
        if variant != "hierarchical":
            assert report.ok, (variant, report.problems)
    # two groups barely inform a 3 x 3 covariance (see hierstan.models.multigroup): a handful of
    # divergences in 4000 draws can remain at adapt_delta 0.99, so allow at most 0.25%
    assert hierstan.diagnose(fits["hierarchical"]).divergences <= 10


def test_layout_of_a_hierarchical_fit(fits, default_data, tmp_path):
    data, _ = default_data
    idata = fits["hierarchical"]
    post = idata.posterior
    assert post["w"].dims == ("chain", "draw", "group", "coefficient")
    assert list(post["group"].values) == ["a", "b"]
    assert list(post["coefficient"].values) == ["x1", "x2", "x3"]
    assert post["Omega"].dims == ("chain", "draw", "coefficient", "coefficient2")
    # Omega is a correlation matrix: unit diagonal, symmetric, L_Omega L_Omega'
    omega = post["Omega"].values
    np.testing.assert_allclose(np.diagonal(omega, axis1=2, axis2=3), 1.0, atol=1e-8)
    np.testing.assert_allclose(omega, np.swapaxes(omega, 2, 3), atol=1e-8)
    lower = post["L_Omega"].values
    np.testing.assert_allclose(omega, lower @ np.swapaxes(lower, 2, 3), atol=1e-8)
    # centered: w is the sampled z_w
    np.testing.assert_array_equal(post["w"].values, post["z_w"].values)
    np.testing.assert_array_equal(idata.observed_data["y"], data["y"])
    assert idata.posterior_predictive["y"].dims == ("chain", "draw", "obs")
    # labels and attributes survive netCDF, for every variant (pooled has no parameterization)
    for variant, fitted in fits.items():
        fitted.to_netcdf(tmp_path / f"{variant}.nc")
        loaded = az.from_netcdf(tmp_path / f"{variant}.nc")
        assert loaded.posterior.attrs["variant"] == variant
        assert list(loaded.posterior["coefficient"].values) == ["x1", "x2", "x3"]


def test_log_lik_and_y_rep_per_row(fits, default_data):
    data, _ = default_data
    idata = fits["separate"]
    x = data[["x1", "x2", "x3"]].to_numpy()
    rows = np.where(data["group"] == "a", 0, 1)
    w = idata.posterior["w"].values[:, :50]  # 50 draws per chain are plenty
    sigma = idata.posterior["sigma"].values[:, :50, None]
    mean = np.einsum("ik,cdik->cdi", x, w[:, :, rows, :])
    expected = stats.norm.logpdf(data["y"].to_numpy(), mean, sigma)
    np.testing.assert_allclose(idata.log_likelihood["y"].values[:, :50], expected, rtol=1e-6)
    # replicated outcomes scatter around x_i'w_g with sd sigma
    scaled = (idata.posterior_predictive["y"].values[:, :50] - mean) / sigma
    assert abs(scaled.mean()) < 0.02 and abs(scaled.std() - 1) < 0.02
    assert np.isfinite(az.loo(fits["hierarchical"]).elpd_loo)


def test_three_groups_two_predictors():
    data, true_w = multigroup.simulate(G=3, n=300, m=2, seed=2)
    idata = _fit(data, seed=SEED, chains=4, draws=500, warmup=500)
    post = idata.posterior
    assert list(post["group"].values) == ["a", "b", "c"]
    assert post["w"].shape[2:] == (3, 2) and post["Omega"].shape[2:] == (2, 2)
    report = hierstan.diagnose(idata)
    assert report.divergences == 0 and report.rhat_max <= 1.01, str(report)
    mean, mcse = _means(idata)
    for label in true_w.index:
        ols, _ = least_squares(data, ["x1", "x2"], data["group"] == label)
        for column, value in zip(true_w.columns, ols):
            name = f"w[{label}, {column}]"
            # 300 rows per group leave the population prior a little pull: 0.02, not 0.01
            assert abs(mean[name] - value) <= 4 * mcse[name] + 0.02, (name, mean[name], value)


def test_every_parameterization_gives_the_same_posterior():
    # 8 groups of 4 rows: each w_g is known to ~0.3, tau is ~4; both forms sample this
    data, _ = multigroup.simulate(G=8, n=4, m=2, seed=3)
    fitted = {p: _fit(data, parameterization=p, seed=SEED) for p in multigroup.PARAMETERIZATIONS}
    summaries = {}
    for parameterization, idata in fitted.items():
        report = hierstan.diagnose(idata)
        assert report.divergences == 0 and report.rhat_max <= 1.01, (parameterization, str(report))
        summaries[parameterization] = az.summary(idata, var_names=["w", "mu_w", "tau"], round_to="none")
    noncentered = summaries["noncentered"]
    for form in ("centered", "auto"):  # auto: whichever groups its pilot centers
        other = summaries[form]
        allowed = 4 * np.hypot(other["mcse_mean"], noncentered["mcse_mean"]) + 0.01
        assert ((other["mean"] - noncentered["mean"]).abs() <= allowed).all(), form
    # non-centered: w_g = mu_w + diag(tau) L_Omega z_g, draw by draw
    post = fitted["noncentered"].posterior
    assert post.attrs["parameterization"] == "noncentered"
    scale = post["tau"].values[..., :, None] * post["L_Omega"].values
    expected = post["mu_w"].values[:, :, None, :] + np.einsum("cdgk,cdjk->cdgj", post["z_w"].values, scale)
    np.testing.assert_allclose(post["w"].values, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("sigma_prior, prior", [
    ("half_normal", stats.halfnorm(scale=5.0)),
    ("inv_gamma", stats.invgamma(2.01, scale=1.01)),
])
def test_sigma_prior_switch(sigma_prior, prior):
    data, _ = multigroup.simulate(n=10, m=1, seed=4)
    idata = _fit(data, variant="separate", sigma_prior=sigma_prior, prior=True, seed=SEED)
    sigma = idata.prior["sigma"].values.ravel()
    # quantiles, not moments: the inverse-gamma's variance is barely finite
    quartiles = prior.ppf([0.25, 0.5, 0.75])
    assert np.quantile(sigma, [0.25, 0.5, 0.75]) == pytest.approx(quartiles, rel=0.1)
    assert idata.prior_predictive["y"].dims == ("chain", "draw", "obs")


def test_reproduce_writes_summary_and_plot(tmp_path):
    with warnings.catch_warnings(record=True):  # 200 draws are too few for the diagnostics
        written = hierstan.reporting.multigroup(tmp_path, seed=SEED, progress=False, chains=2, draws=200,
                                                warmup=200)
    assert [p.name for p in written] == ["multigroup_summary.csv", "multigroup_recovery.png"]
    summary = pd.read_csv(written[0], index_col=[0, 1])
    assert set(summary.index.get_level_values("variant")) == set(multigroup.VARIANTS)
    assert summary.loc[("separate", "w[b, x3]"), "true"] == -6.0
    assert summary.loc[("hierarchical", "sigma"), "true"] == 0.5
    assert written[1].stat().st_size > 10_000
