"""group_table on a hand-made InferenceData: counts, raw means and intervals, computed apart."""

import arviz as az
import numpy as np
import pandas as pd

import hierstan


def _idata():
    rng = np.random.default_rng(0)
    posterior = {"alpha": rng.normal(size=(2, 50, 3)), "z_alpha": rng.normal(size=(2, 50, 3)),
                 "a": rng.normal(size=(2, 50, 3, 2)), "mu": rng.normal(size=(2, 50))}
    return posterior, az.from_dict(
        posterior=posterior, observed_data={"y": np.array([1.0, 2, 3, 4, 5])},
        constant_data={"row_group": np.array([2, 2, 0, 1, 1])},
        coords={"county": ["A", "B", "C"], "coefficient": ["i", "s"], "obs": range(5)},
        dims={"alpha": ["county"], "z_alpha": ["county"], "a": ["county", "coefficient"], "y": ["obs"],
              "row_group": ["obs"]},
        posterior_attrs={"group_dim": "county", "group_index": "row_group", "outcome": "y"})


def test_group_table_rows_and_effects():
    posterior, idata = _idata()
    table = hierstan.group_table(idata, prob=0.8).set_index("county")
    frame = pd.DataFrame({"y": [1.0, 2, 3, 4, 5], "county": ["C", "C", "A", "B", "B"]})
    expected = frame.groupby("county")["y"].agg(["size", "mean"])
    np.testing.assert_array_equal(table["n"], expected["size"])
    np.testing.assert_allclose(table["raw_mean"], expected["mean"])
    draws = posterior["a"].reshape(100, 3, 2)
    np.testing.assert_allclose(table["a[s]_q10"], np.quantile(draws[:, :, 1], 0.1, axis=0))
    np.testing.assert_allclose(table["a[i]_q90"], np.quantile(draws[:, :, 0], 0.9, axis=0))
    np.testing.assert_allclose(table["alpha_mean"], posterior["alpha"].mean(axis=(0, 1)))
    # deviates and population parameters are not per-group effects
    assert not any(c.startswith(("z_", "mu")) for c in table.columns)
