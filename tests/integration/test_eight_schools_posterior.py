"""Eight schools on the available engine, checked against 2-D quadrature over (mu, tau)."""

import warnings

import arviz as az
import numpy as np
import pytest
from scipy import stats

import hierstan
from hierstan.models import eight_schools


def quadrature_means(y, sigma, mu_scale=5.0, tau_scale=5.0):
    """E[mu], E[tau], E[theta_j] with theta integrated out analytically:
    y_j | mu, tau ~ normal(mu, sqrt(sigma_j^2 + tau^2)), then a grid over (mu, log tau)."""
    mu = np.linspace(-40.0, 50.0, 901)
    log_tau = np.linspace(np.log(1e-4), np.log(2e3), 1200)
    tau = np.exp(log_tau)
    m, t = mu[:, None, None], tau[None, :, None]
    var = sigma**2 + t**2
    log_lik = stats.norm.logpdf(y, m, np.sqrt(var)).sum(axis=-1)
    log_prior = stats.norm.logpdf(mu, 0, mu_scale)[:, None] + stats.halfcauchy.logpdf(tau, 0, tau_scale)
    log_post = log_lik + log_prior + log_tau  # + log_tau: Jacobian of the log-tau grid
    weight = np.exp(log_post - log_post.max())
    weight /= weight.sum()
    # E[theta_j | mu, tau, y]: precision-weighted mean of y_j and mu
    theta = (y / sigma**2 + m / t**2) / (1 / sigma**2 + 1 / t**2)
    return {
        "mu": float((weight * mu[:, None]).sum()),
        "tau": float((weight * tau[None, :]).sum()),
        "theta": (weight[..., None] * theta).sum(axis=(0, 1)),
    }


def test_quadrature_recovers_a_known_normal_case():
    # tau fixed near 0 by a tiny prior scale: mu's posterior is then the conjugate normal one
    y, sigma = np.array([3.0, -1.0, 4.0]), np.array([2.0, 3.0, 1.5])
    got = quadrature_means(y, sigma, mu_scale=5.0, tau_scale=1e-3)
    precision = 1 / 25 + (1 / sigma**2).sum()
    assert got["mu"] == pytest.approx((y / sigma**2).sum() / precision, abs=1e-3)


def test_noncentered_matches_quadrature(noncentered):
    data = eight_schools.load_data()
    exact = quadrature_means(data["y"].to_numpy(float), data["sigma"].to_numpy(float))
    summary = az.summary(noncentered, var_names=["mu", "tau", "theta"], round_to="none")
    expected = {"mu": exact["mu"], "tau": exact["tau"]}
    expected.update({f"theta[{s}]": v for s, v in zip(data["school"], exact["theta"])})
    for name, value in expected.items():
        mean, mcse = summary.loc[name, "mean"], summary.loc[name, "mcse_mean"]
        assert abs(mean - value) <= 3 * mcse + 0.05, (name, mean, value, mcse)


def test_noncentered_samples_cleanly(noncentered):
    report = hierstan.diagnose(noncentered)
    assert report.divergences == 0
    assert report.rhat_max <= 1.01
    assert report.ok, report.problems


def test_layout_of_a_real_fit(noncentered):
    assert {"posterior", "sample_stats", "log_likelihood", "posterior_predictive", "observed_data",
            "constant_data"} == set(noncentered.groups())
    assert noncentered.posterior.sizes == {"chain": 4, "draw": 1000, "school": 8}
    assert list(noncentered.posterior["school"].values) == list("ABCDEFGH")
    np.testing.assert_array_equal(noncentered.observed_data["y"], eight_schools.load_data()["y"])
    # theta is mu + tau * z_theta draw by draw
    post = noncentered.posterior
    theta = post["mu"] + post["tau"] * post["z_theta"]
    np.testing.assert_allclose(post["theta"], theta, rtol=1e-5, atol=1e-8)
    # log_lik is the normal log density of each school's y given that draw's theta
    sigma = noncentered.constant_data["sigma"]
    expected = stats.norm.logpdf(noncentered.observed_data["y"], post["theta"], sigma)
    np.testing.assert_allclose(noncentered.log_likelihood["y"], expected, rtol=1e-5)
    loo = az.loo(noncentered)
    assert np.isfinite(loo.elpd_loo)


def test_auto_chooses_noncentered_here(noncentered):
    # tau's REML estimate is ~0: auto centers no school, so the same seed gives the same draws
    auto = hierstan.eight_schools.fit(chains=4, draws=1000, seed=1, progress=False)
    assert "all non-centered" in auto.posterior.attrs["parameterization_choice"]
    np.testing.assert_array_equal(auto.posterior["theta"].values, noncentered.posterior["theta"].values)


def test_centered_reports_its_divergences():
    with pytest.warns(hierstan.HierstanWarning, match="parameterization='auto'"):
        idata = hierstan.eight_schools.fit(parameterization="centered", seed=1, progress=False)
    report = hierstan.diagnose(idata)
    assert report.divergences > 0
    assert any("parameterization='auto'" in p for p in report.problems)


def test_same_seed_same_draws_other_seed_differs():
    def draws(seed):
        return hierstan.eight_schools.fit(chains=2, draws=200, warmup=200, seed=seed, progress=False)

    first, again, other = draws(7), draws(7), draws(8)
    np.testing.assert_array_equal(first.posterior["theta"], again.posterior["theta"])
    np.testing.assert_array_equal(first.posterior_predictive["y"], again.posterior_predictive["y"])
    assert not np.array_equal(first.posterior["theta"], other.posterior["theta"])
    # chains are distinct streams, not copies
    assert not np.array_equal(first.posterior["mu"][0], first.posterior["mu"][1])


def test_prior_draws_match_the_prior():
    with warnings.catch_warnings(record=True):
        idata = hierstan.eight_schools.fit(seed=3, prior=True, progress=False)
    assert {"prior", "prior_predictive"} <= set(idata.groups())
    mu = idata.prior["mu"].values.ravel()
    tau = idata.prior["tau"].values.ravel()
    # mu ~ normal(0, 5); tau ~ half-Cauchy(0, 5): median 5, quartiles 5 tan(pi/8), 5 tan(3 pi/8)
    assert abs(mu.mean()) < 0.4 and abs(mu.std() - 5) < 0.4
    assert np.quantile(tau, [0.25, 0.5, 0.75]) == pytest.approx(
        [5 * np.tan(np.pi / 8), 5.0, 5 * np.tan(3 * np.pi / 8)], rel=0.12)
    assert idata.prior_predictive["y"].dims == ("chain", "draw", "school")


def test_netcdf_round_trip_keeps_labels_and_diagnostics(noncentered, tmp_path):
    path = tmp_path / "fit with spaces.nc"
    noncentered.to_netcdf(path)
    loaded = az.from_netcdf(path)
    assert list(loaded.posterior["school"].values) == list("ABCDEFGH")
    assert loaded.posterior.attrs["parameterization"] == "noncentered"
    assert hierstan.diagnose(loaded).divergences == hierstan.diagnose(noncentered).divergences
