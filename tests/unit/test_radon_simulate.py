"""radon.simulate's designs: houses per county (no compilation)."""

import numpy as np
import pytest

from hierstan import DataError, UnknownNameError
from hierstan.models import radon


def sizes(frame):
    return frame["county"].value_counts().sort_index().to_numpy()


def test_uniform_is_the_original_design():
    # recorded from simulate before designs existed: the default design must not change a seed's data
    frame, _ = radon.simulate(J=20, N=200, seed=7)
    assert radon.simulate(J=20, N=200, seed=7, design="uniform")[0].equals(frame)
    assert sizes(frame).tolist() == [10, 11, 8, 10, 10, 3, 8, 13, 14, 7, 11, 14, 10, 9, 9, 8, 11, 9, 11, 14]
    np.testing.assert_allclose(frame["log_radon"][:4], [1.644004748, 1.6030391674, 0.6588394901,
                                                         1.5339824182], rtol=1e-9)
    assert frame["floor"].sum() == 44
    # every county has a house
    assert radon.simulate(J=300, N=301, seed=1)[0]["county"].nunique() == 300


def test_balanced_gives_every_county_the_same_houses():
    frame, truth = radon.simulate(J=50, N=500, design="balanced", seed=2)
    assert len(frame) == 500 and (sizes(frame) == 10).all()
    assert list(frame.columns) == ["county", "floor", "log_radon"]
    assert truth["alpha"].shape == truth["beta"].shape == (50,)


def test_balanced_refuses_a_remainder():
    with pytest.raises(DataError, match="multiple of J"):
        radon.simulate(J=30, N=100, design="balanced")


@pytest.mark.parametrize("J, N", [(1000, 20_000), (85, 919), (40, 41)])
def test_skewed_sizes(J, N):
    frame, _ = radon.simulate(J=J, N=N, design="skewed", seed=3)
    n = sizes(frame)
    assert len(frame) == N and n.sum() == N and len(n) == J and n.min() >= 1
    assert frame.equals(radon.simulate(J=J, N=N, design="skewed", seed=3)[0])
    assert not frame.equals(radon.simulate(J=J, N=N, design="skewed", seed=4)[0])


def test_skewed_has_a_long_tail():
    # the real data: 1 to 116 houses, median 5; the largest county holds tens of times the median
    for seed in range(5):
        n = sizes(radon.simulate(J=1000, N=20_000, design="skewed", seed=seed)[0])
        assert n.max() > 20 * np.median(n) and n.min() == 1
        assert not (n == n[0]).all()


def test_unknown_design():
    with pytest.raises(UnknownNameError, match="unknown radon simulation design 'even'"):
        radon.simulate(design="even")
