"""The per-fit fast paths give what they replace, to the bit: the normal log density and draws
against scipy and numpy, the InferenceData coordinates against lists (issue 30, item 4: fixed
cost per fit)."""


import numpy as np
import pytest
from scipy.stats import norm

from hierstan import inference_data
from hierstan.engines import RawDraws, SamplerSettings
from hierstan.inference_data import to_inference_data
from hierstan.models import eight_schools
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


def test_inference_data_is_the_one_list_coordinates_give(monkeypatch):
    """Coordinates go to ArviZ as arrays (cheaper for it to copy): the same InferenceData as
    from the lists, group by group, dtypes and attributes included."""
    rng = np.random.default_rng(2)

    def raw():
        return RawDraws(variables={"mu": rng.normal(size=(2, 10)), "tau": rng.normal(size=(2, 10)),
                                   "theta": rng.normal(size=(2, 10, 8)),
                                   "y_rep": rng.normal(size=(2, 10, 8))},
                        sampler={"lp__": rng.normal(size=(2, 10)), "divergent__": np.zeros((2, 10))},
                        engine="fake", engine_version="0", compiled_now=False)

    prepared, settings, posterior, prior = eight_schools.stan_data(), SamplerSettings(2, 10), raw(), raw()
    found = to_inference_data(prepared, settings, posterior, prior)
    monkeypatch.setattr(inference_data, "_arrays", lambda coords: coords)
    expected = to_inference_data(prepared, settings, posterior, prior)
    assert found.groups() == expected.groups()
    for group in expected.groups():
        ours, theirs = found[group].copy(), expected[group].copy()
        for dataset in (ours, theirs):
            dataset.attrs.pop("created_at", None)
        assert ours.identical(theirs), group
        for name in [*theirs.coords, *theirs.data_vars]:
            assert ours[name].dtype == theirs[name].dtype, (group, name)
