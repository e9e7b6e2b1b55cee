"""The fast tier's fits: one tiny eight-schools fit per engine, and the two engines agreeing."""

import warnings

import numpy as np
import pytest

import hierstan
from hierstan.engines import CmdStanEngine

SETTINGS = {"chains": 2, "draws": 100, "warmup": 100, "seed": 11, "progress": False}


def _fit(engine: str, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hierstan.HierstanWarning)  # 200 draws may leave R-hat > 1.01
        return hierstan.eight_schools.fit(engine=engine, **SETTINGS, **options)


@pytest.fixture(scope="module")
def native():
    return _fit("native")


@pytest.mark.fast
def test_native_fit_is_labelled(native):
    theta = native.posterior["theta"]
    assert theta.dims == ("chain", "draw", "school") and theta.shape == (2, 100, 8)
    assert list(theta["school"].values) == list("ABCDEFGH")
    # theta = mu + tau * z_theta draw by draw, as the non-centered program defines it
    posterior = native.posterior
    np.testing.assert_allclose(theta, posterior["mu"] + posterior["tau"] * posterior["z_theta"], rtol=1e-10)
    assert native.log_likelihood["y"].shape == (2, 100, 8)
    assert native.sample_stats["diverging"].shape == (2, 100)
    # the native engine's own warmup ran, and the fit says so
    assert native.sample_stats.attrs["adaptation"] == "hierstan"
    assert "warmup adaptation: hierstan" in str(hierstan.diagnose(native))
    assert np.all(native.sample_stats.attrs["warmup_gradients"] > 0)


@pytest.mark.fast
@pytest.mark.cmdstan
@pytest.mark.skipif(not CmdStanEngine.available(), reason="CmdStan is not installed")
def test_cmdstan_draws_equal_the_native_engines(native):
    """Same Stan, seed, chain ids and adaptation: the same draws, bit for bit."""
    cmdstan = _fit("cmdstan")
    stans = _fit("native", adaptation="stan")
    assert cmdstan.posterior.attrs["adaptation"] == stans.posterior.attrs["adaptation"] == "stan"
    for name in ("mu", "tau", "theta"):
        np.testing.assert_array_equal(cmdstan.posterior[name].values, stans.posterior[name].values)
