import os
import warnings

import pytest

import hierstan

# The families' tests run on the native engine (its compiles are the quicker); test_cmdstan.py
# names its engines. HIERSTAN_ENGINE=cmdstan runs them on CmdStan instead.
os.environ.setdefault("HIERSTAN_ENGINE", "native")


def pytest_collection_modifyitems(config, items):
    """Integration tests are the slow tier unless marked ``fast`` (`pytest -m "not slow"` runs
    the unit tests and the tiny fits)."""
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here) and item.get_closest_marker("fast") is None:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def noncentered():
    """The fit the issue specifies: non-centered, 4 chains x 1000 draws, fixed seed."""
    with warnings.catch_warnings(record=True):
        return hierstan.eight_schools.fit(chains=4, draws=1000, seed=1, progress=False,
                                          parameterization="noncentered")
