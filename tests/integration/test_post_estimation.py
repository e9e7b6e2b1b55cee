"""Post-estimation shared by every family, on a short fit of each family's default variant."""

import warnings

import numpy as np
import pandas as pd
import pytest

import hierstan
from hierstan.models import FAMILIES
from hierstan.post_estimation import add_pointwise

SHORT = {"chains": 2, "draws": 100, "warmup": 150, "seed": 3, "progress": False}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def fitted(request):
    """The default variant, its program also writing log_lik and y_rep (the reference for the
    numpy computation that fits use)."""
    family = FAMILIES[request.param]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains
        return family, hierstan.sample(family.prepare(None).with_data(pointwise=1), **SHORT)


def test_group_table_counts_the_datas_rows(fitted):
    family, idata = fitted
    data = family.load_data()
    # a formula family's columns: its default formula's outcome and first grouping factor
    columns = {"outcome": idata.posterior.attrs["outcome"], "group": idata.posterior.attrs["group_dim"],
               **family.columns}
    outcome, group = data[columns["outcome"]], data[columns["group"]]
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


def test_prediction_log_density_is_stans_log_lik(fitted):
    """On the fit's own rows, the numpy prediction's log density at the observed outcome equals
    the program's log_lik draw by draw: linear predictor and scale agree with the Stan code."""
    family, idata = fitted
    rows = family.load_data().iloc[:40]
    prediction = family.predict(idata, rows, np.random.default_rng(0))
    outcome = idata.posterior.attrs["outcome"]
    observed = rows[outcome].to_numpy(dtype=float)
    stan = idata.log_likelihood[outcome]
    stan = stan.values.reshape(-1, stan.shape[-1])[:, :40]
    ours = prediction.log_density(observed, prediction.linear)
    np.testing.assert_allclose(ours, stan, rtol=1e-8, atol=1e-10)


def test_fits_compute_the_pointwise_groups_stan_would_write(fitted):
    """A default fit (its program writing nothing per row) gets log_lik equal to the program's,
    and replicated outcomes with the mean and spread of the program's y_rep."""
    family, stan = fitted
    prepared = family.prepare(None)
    assert prepared.data["pointwise"] == 0
    idata = stan.copy()
    del idata.log_likelihood, idata.posterior_predictive
    add_pointwise(idata, prepared.rows, seed=1)
    outcome = prepared.outcome
    np.testing.assert_allclose(idata.log_likelihood[outcome], stan.log_likelihood[outcome],
                               rtol=1e-8, atol=1e-10)
    ours, theirs = idata.posterior_predictive[outcome], stan.posterior_predictive[outcome]
    assert ours.dims == theirs.dims and ours.shape == theirs.shape
    # per row, over the draws: the two replicate means differ by Monte Carlo error only
    samples = ours.sizes["chain"] * ours.sizes["draw"]
    spread = np.sqrt((ours.var(("chain", "draw")) + theirs.var(("chain", "draw"))) / samples)
    z = (ours.mean(("chain", "draw")) - theirs.mean(("chain", "draw"))) / np.maximum(spread, 1e-12)
    assert float(np.abs(z).max()) < 5.5, family.name


def test_predict_known_and_new_groups(fitted):
    family, idata = fitted
    data = family.load_data()
    group = family.columns.get("group") or idata.posterior.attrs["group_dim"]
    first = data.iloc[[0]]
    unseen = data.iloc[[0, 0]].assign(**{group: "never-seen"})
    rows = pd.concat([first, unseen], ignore_index=True)
    linear = hierstan.predict(idata, rows, scale="linear", seed=1)
    assert linear.dims == ("chain", "draw", "row") and linear.shape[-1] == 3
    assert np.isfinite(linear.values).all()
    # the unseen group's two identical rows share its drawn effects; it differs from the known group
    np.testing.assert_array_equal(linear.isel(row=1), linear.isel(row=2))
    assert not np.allclose(linear.isel(row=0), linear.isel(row=1))
    outcome = hierstan.predict(idata, rows, seed=1)
    assert outcome.shape == linear.shape and np.isfinite(outcome.values).all()
    # seeded: the same seed, the same draws
    np.testing.assert_array_equal(outcome, hierstan.predict(idata, rows, seed=1))
