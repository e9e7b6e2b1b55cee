"""The per-fit fast paths give what they replace, to the bit: the diagnostics table against
az.summary, the normal log density and draws against scipy and numpy, the InferenceData
coordinates against lists (issue 30, item 4: fixed cost per fit)."""

import contextlib
import warnings

import arviz as az
import numpy as np
import pytest
from scipy.stats import norm

from hierstan import diagnostics, inference_data
from hierstan.diagnostics import diagnostics_table
from hierstan.engines import RawDraws, SamplerSettings
from hierstan.inference_data import to_inference_data
from hierstan.models import eight_schools
from hierstan.post_estimation import normal_draws, normal_log_density


@contextlib.contextmanager
def numba(on: bool):
    """ArviZ computes variances with numba when it is installed: both ways must agree."""
    was = az.Numba.numba_flag
    if on and not was:
        try:
            az.Numba.enable_numba()
        except (ImportError, ValueError):
            pytest.skip("numba is not installed")
    elif not on and was:
        az.Numba.disable_numba()
    try:
        yield
    finally:
        if was and not az.Numba.numba_flag:
            az.Numba.enable_numba()
        elif not was and az.Numba.numba_flag:
            az.Numba.disable_numba()


def _posterior(chains: int, draws: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    sticky = np.repeat(rng.normal(size=(chains, draws // 5 + 1)), 5, axis=1)[:, :draws]
    walk = np.cumsum(rng.normal(size=(chains, draws, 2)), axis=1)
    walk[0] += 3  # one chain elsewhere: R-hat well above 1
    rare = (rng.uniform(size=(chains, draws, 2)) < 0.03).astype(float)  # mostly 0: ties
    rare[:, 1] = 1.0  # but not constant
    return az.from_dict(
        posterior={
            "mu": rng.normal(size=(chains, draws)),
            "theta": np.round(rng.normal(size=(chains, draws, 3, 2)), 1),  # ties everywhere
            "sticky": sticky,  # each value repeated: tied ranks
            "walk": walk,
            "rare": rare,
            "scale": np.exp(rng.normal(size=(chains, draws))) * 1e6,
        },
        coords={"school": ["a", "b", "c"], "k": [10, 20], "side": ["left", "right"]},
        dims={"theta": ["school", "k"], "walk": ["side"], "rare": ["side"]},
    ).posterior


def _assert_same(posterior, names, monkeypatch, fast=True):
    """diagnostics_table equals az.summary; ``fast``: through its own path, not ArviZ's."""
    done = []

    def recorded(draws):
        table = original(draws)
        done.append(True)
        return table

    original = diagnostics._multichain_statistics
    monkeypatch.setattr(diagnostics, "_multichain_statistics", recorded)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = az.summary(posterior, var_names=names, kind="diagnostics", round_to="none")
        found = diagnostics_table(posterior, names)
    assert list(found.index) == list(expected.index)
    assert list(found.columns) == list(expected.columns)
    assert (found.dtypes == expected.dtypes).all()
    np.testing.assert_array_equal(found.to_numpy(), expected.to_numpy())  # bit for bit, NaN too
    assert bool(done) == fast


@pytest.mark.parametrize("use_numba", [True, False])
@pytest.mark.parametrize("chains, draws", [(4, 1000), (2, 7), (3, 501), (4, 4)])
def test_diagnostics_table_equals_arviz_summary(chains, draws, use_numba, monkeypatch):
    posterior = _posterior(chains, draws)
    with numba(use_numba):
        _assert_same(posterior, ["mu", "theta", "sticky", "walk", "rare", "scale"], monkeypatch)
        _assert_same(posterior, ["walk", "mu"], monkeypatch)  # the order asked for is the table's


@pytest.mark.parametrize("case", ["constant", "nan", "one chain", "three draws"])
def test_diagnostics_table_leaves_odd_draws_to_arviz(case, monkeypatch):
    rng = np.random.default_rng(3)
    chains, draws = (1, 50) if case == "one chain" else (4, 3) if case == "three draws" else (4, 50)
    values = {"mu": rng.normal(size=(chains, draws)), "other": rng.normal(size=(chains, draws))}
    if case == "constant":
        values["other"][:] = 2.0
    if case == "nan":
        values["other"][1, 7] = np.nan
    posterior = az.from_dict(posterior=values).posterior
    _assert_same(posterior, ["mu", "other"], monkeypatch, fast=False)


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
