"""The per-fit fast paths give what they replace, to the bit (issue 30, item 4: fixed cost per
fit): the normal log density and draws against scipy and numpy."""

import numpy as np
import pytest
from scipy.stats import norm

from hierstan.post_estimation import normal_draws, normal_log_density


def test_normal_log_density_and_draws_equal_scipy_and_numpy():
    rng = np.random.default_rng(5)
    shapes = [((5,), (3, 5), (3, 1)), ((5,), (3, 5), (5,)), ((), (4,), ()), ((2, 3), (1, 3), (2, 1)),
              ((3,), (3,), (2, 1))]
    for y_shape, loc_shape, scale_shape in shapes:
        y = rng.normal(size=y_shape) * 10
        loc = rng.normal(size=loc_shape)
        scale = np.abs(rng.normal(size=scale_shape)) + 0.1
        expected = norm.logpdf(y, loc, scale)
        found = normal_log_density(y, loc, scale)
        assert found.shape == expected.shape
        np.testing.assert_array_equal(found, expected)
        expected = np.random.default_rng(9).normal(loc, scale)
        found = normal_draws(np.random.default_rng(9), loc, scale)
        assert np.shape(found) == np.shape(expected)
        np.testing.assert_array_equal(found, expected)
    # infinities, NaN and a zero scale as scipy has them
    y = np.array([np.inf, -np.inf, np.nan, 1.0])
    np.testing.assert_array_equal(normal_log_density(y, 0.0, 1.0), norm.logpdf(y, 0.0, 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_array_equal(normal_log_density(1.0, 0.0, np.array([0.0, 2.0])),
                                      norm.logpdf(1.0, 0.0, np.array([0.0, 2.0])))
    with pytest.raises(ValueError):
        normal_draws(np.random.default_rng(1), np.zeros(3), -1.0)
