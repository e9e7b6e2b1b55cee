import warnings

import pytest

import hierstan


@pytest.fixture(scope="session")
def noncentered():
    """The fit the issue specifies: non-centered, 4 chains x 1000 draws, fixed seed."""
    with warnings.catch_warnings(record=True):
        return hierstan.eight_schools.fit(chains=4, draws=1000, seed=1, progress=False)
