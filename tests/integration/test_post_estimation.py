"""Post-estimation shared by every family, on a short fit of each family's default variant."""

import warnings

import numpy as np
import pytest

import hierstan
from hierstan.models import FAMILIES

SHORT = {"chains": 2, "draws": 100, "warmup": 150, "seed": 3, "progress": False}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def fitted(request):
    family = FAMILIES[request.param]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains
        return family, family.fit(**SHORT)


def test_group_table_counts_the_datas_rows(fitted):
    family, idata = fitted
    data = family.load_data()
    outcome, group = data[family.columns["outcome"]], data[family.columns["group"]]
    if family.name == "thai":  # the default variant fits every pupil
        outcome = outcome.astype(float)
    expected = outcome.groupby(group.astype(str)).agg(["size", "mean"])
    table = hierstan.group_table(idata)
    dim = idata.posterior.attrs["group_dim"]
    table = table.set_index(table[dim].astype(str))
    assert sorted(table.index) == sorted(expected.index)
    np.testing.assert_array_equal(table["n"], expected["size"].loc[table.index])
    np.testing.assert_allclose(table["raw_mean"], expected["mean"].loc[table.index])
    effects = [c[:-5] for c in table.columns if c.endswith("_mean") and c != "raw_mean"]
    assert effects, "no group-level effect reported"
    for effect in effects:
        assert (table[f"{effect}_q05"] <= table[f"{effect}_mean"]).all()
        assert (table[f"{effect}_mean"] <= table[f"{effect}_q95"]).all()
    assert not [c for c in table.columns if c.startswith(("z_", "L_")) or "_raw" in c]


def test_group_table_needs_a_hierstan_fit():
    import arviz as az

    with pytest.raises(hierstan.HierstanError, match="group dim"):
        hierstan.group_table(az.from_dict(posterior={"x": np.zeros((1, 5))}))
