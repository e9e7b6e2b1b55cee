"""After a real fit the fast paths give what scipy and numpy would (issue 30, item 4): log_lik is
scipy's normal log density at the draws, y_rep the draws numpy's rng.normal gives for the fit's
seed."""

import warnings

import numpy as np
import pytest
from scipy.stats import norm

import hierstan
from hierstan.post_estimation import draws_of


def _fit(module, **settings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hierstan.HierstanWarning)  # few draws may leave R-hat > 1.01
        return module.fit(progress=False, **settings)


def _check(idata, theta, sigma):
    outcome = idata.posterior.attrs["outcome"]
    y = idata.observed_data[outcome].values
    shape = idata.log_likelihood[outcome].shape
    np.testing.assert_array_equal(idata.log_likelihood[outcome].values.reshape(-1, y.size),
                                  norm.logpdf(y, theta, sigma))
    replay = np.random.default_rng(idata.posterior.attrs["seed"]).normal(theta, sigma)
    np.testing.assert_array_equal(idata.posterior_predictive[outcome].values, replay.reshape(shape))


@pytest.mark.fast
def test_eight_schools_fast_paths_match_arviz_and_scipy():
    idata = _fit(hierstan.eight_schools, chains=2, draws=100, warmup=100, seed=11)
    theta = draws_of(idata.posterior["theta"], "school")
    _check(idata, theta, idata.constant_data["sigma"].values)


def test_mathtest_fast_paths_match_arviz_and_scipy():
    idata = _fit(hierstan.mathtest, seed=4)
    post = idata.posterior
    index = idata.constant_data["school_index"].values
    theta = draws_of(post["theta"], "school")[:, index]
    _check(idata, theta, np.sqrt(draws_of(post["sigma2"]))[:, None])
