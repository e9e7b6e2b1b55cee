"""The compile-free parts of SBC and K-fold: folds, rank statistics, uniformity tests."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hierstan.errors import DataError
from hierstan.kfold import fold_ids
from hierstan.sbc import _holm, ranks_of, uniformity_tests


def _frame():
    rng = np.random.default_rng(3)
    sizes = [1, 2, 3, 7, 20, 40]
    group = np.repeat([f"g{i}" for i in range(len(sizes))], sizes)
    return pd.DataFrame({"g": group, "y": rng.normal(size=len(group))})


def test_stratified_folds_spread_every_group_and_the_rows():
    frame = _frame()
    folds = fold_ids(frame, 5, by=None, group="g", seed=1)
    assert set(folds) == set(range(5))
    counts = np.bincount(folds)
    assert counts.max() - counts.min() <= 1
    for _, rows in frame.groupby("g"):
        per_fold = np.bincount(folds[rows.index], minlength=5)
        assert per_fold.max() - per_fold.min() <= 1  # a group's rows dealt evenly


def test_grouped_folds_hold_out_whole_groups():
    frame = _frame()
    folds = fold_ids(frame, 3, by="g", group="g", seed=2)
    for _, rows in frame.groupby("g"):
        assert len(set(folds[rows.index])) == 1
    assert set(folds) == {0, 1, 2}
    with pytest.raises(DataError, match="number of groups"):
        fold_ids(frame, 7, by="g", group="g", seed=2)
    with pytest.raises(DataError, match="not a column"):
        fold_ids(frame, 3, by="county", group="g", seed=2)


def test_folds_depend_on_the_seed_alone():
    frame = _frame()
    assert np.array_equal(fold_ids(frame, 4, by=None, group="g", seed=5),
                          fold_ids(frame.copy(), 4, by=None, group="g", seed=5))
    assert not np.array_equal(fold_ids(frame, 4, by=None, group="g", seed=5),
                              fold_ids(frame, 4, by=None, group="g", seed=6))


def test_ranks_count_draws_below_the_truth_after_thinning():
    draws = np.arange(400.0).reshape(4, 100)  # chain c holds 100c .. 100c + 99
    corr = np.ones((1, 1, 2, 2))
    corr[..., 0, 1] = corr[..., 1, 0] = 0.3
    posterior = xr.Dataset({
        "mu": (("chain", "draw"), draws),
        "Omega": (("chain", "draw", "k", "k2"), np.broadcast_to(corr, (4, 100, 2, 2)) + 0.0),
        "z_mu": (("chain", "draw"), draws),
    }, coords={"k": ["a", "b"], "k2": ["a", "b"]})
    posterior["Omega"][..., 0, 1] = posterior["Omega"][..., 1, 0] = draws / 1000
    # Stan's Omega = L L' has a diagonal of 1 up to rounding
    posterior["Omega"][..., 1, 1] = 1 + np.where(draws % 20 < 10, 2.2e-16, -1.1e-16)
    ranks, variables = ranks_of(posterior, {"mu": 150.5, "Omega": [[1, 0.0], [0.0, 1]], "z_mu": 0.0}, keep=40)
    # every 10th draw of each chain: 0, 10, ..., 390; 16 of them (0..150) lie below 150.5
    assert ranks["mu"] == 16
    # Omega's diagonal is constant (up to rounding) and its upper triangle repeats the lower: one
    # element ranked
    assert set(ranks) == {"mu", "Omega[b, a]"} and variables["Omega[b, a]"] == "Omega"
    assert ranks["Omega[b, a]"] == 0


def test_uniformity_tests_pass_uniform_ranks_and_flag_skewed_ones():
    rng = np.random.default_rng(0)
    n, keep = 400, 99
    rows = [{"simulation": i, "parameter": "ok", "variable": "ok", "rank": int(r)}
            for i, r in enumerate(rng.integers(0, keep + 1, n))]
    # a posterior too narrow: ranks pile up at both ends
    skewed = np.where(rng.random(n) < 0.5, rng.integers(0, 10, n), rng.integers(90, 100, n))
    rows += [{"simulation": i, "parameter": "bad", "variable": "bad", "rank": int(r)}
             for i, r in enumerate(skewed)]
    tests = uniformity_tests(pd.DataFrame(rows), keep, bins=20).set_index("parameter")
    assert tests.loc["ok", "uniform"] and not tests.loc["ok", "outside_band"]
    assert not tests.loc["bad", "uniform"] and tests.loc["bad", "outside_band"]


def test_holm_against_its_definition():
    p = np.array([0.01, 0.04, 0.03, 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 times 4, 3, 2, 1: 0.04, 0.09, 0.08, 0.5; running maximum
    # 0.04, 0.09, 0.09, 0.5; back in the original order
    assert np.allclose(_holm(p), [0.04, 0.09, 0.09, 0.5])


def test_sbc_plot_is_a_figure_of_its_own():
    """Not pyplot's: a notebook shows it once (not also as an open pyplot figure), and many
    results plotted in a loop leave no figure open."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from hierstan.sbc import SBCResult

    rng = np.random.default_rng(1)
    ranks = pd.DataFrame({"simulation": np.arange(50), "parameter": "mu", "variable": "mu",
                          "rank": rng.integers(0, 100, 50)})
    result = SBCResult(family="eight_schools", variant="hierarchical", ranks=ranks,
                       fits=pd.DataFrame({"status": ["ok"] * 50}),
                       tests=uniformity_tests(ranks, 99, bins=10), keep=99, bins=10)
    before = plt.get_fignums()
    figure = result.plot()
    assert isinstance(figure, Figure) and len(figure.axes) >= 1
    assert plt.get_fignums() == before
