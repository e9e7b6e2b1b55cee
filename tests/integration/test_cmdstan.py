"""CmdStan through cmdstanpy: same layout and, with the same Stan version and seed, the same draws."""

import warnings

import numpy as np
import pytest

import hierstan
from hierstan.engines import CmdStanEngine

pytestmark = [
    pytest.mark.cmdstan,
    pytest.mark.skipif(not CmdStanEngine.available(),
                       reason="CmdStan is not installed (cmdstanpy.cmdstan_path() finds none)"),
]


def _fit(engine):
    with warnings.catch_warnings(record=True):
        return hierstan.eight_schools.fit(engine=engine, chains=2, draws=300, warmup=300, seed=11,
                                          progress=False)


def test_cmdstan_layout_matches_pystan():
    cmdstan, pystan = _fit("cmdstan"), _fit("pystan")
    assert set(cmdstan.groups()) == set(pystan.groups())
    for group in cmdstan.groups():
        for name, values in cmdstan[group].data_vars.items():
            assert values.dims == pystan[group][name].dims, (group, name)
            assert values.dtype.kind == pystan[group][name].dtype.kind, (group, name)
    assert cmdstan.posterior.attrs["engine"] == "cmdstan"


def test_same_stan_version_gives_identical_draws():
    import cmdstanpy

    if cmdstanpy.cmdstan_version()[:2] != (2, 35):
        pytest.skip("draws match only when CmdStan has PyStan's Stan version (2.35)")
    cmdstan, pystan = _fit("cmdstan"), _fit("pystan")
    # CmdStan's CSV keeps 6 significant digits
    np.testing.assert_allclose(cmdstan.posterior["theta"], pystan.posterior["theta"], rtol=1e-5)
