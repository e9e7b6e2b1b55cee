"""The one API every family shares: declarations, keyword checking, column arguments, the CLI."""

import inspect
import subprocess
import sys

import numpy as np
import pytest

import hierstan
from hierstan.family import SAMPLER_ARGUMENTS
from hierstan.models import FAMILIES


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_declaration_matches_the_preparation(name):
    family = FAMILIES[name]
    parameters = inspect.signature(family.prepare).parameters
    assert parameters["variant"].default == family.variants[0]
    if family.parameterizations:
        assert parameters["parameterization"].default in (family.parameterizations[0], None)
    assert {"outcome", "group"} <= set(family.columns)
    assert not set(family.options) & set(SAMPLER_ARGUMENTS)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_outcome_and_group_columns_take_the_users_names(name):
    family = FAMILIES[name]
    data = family.load_data()
    renamed = data.rename(columns={family.columns["outcome"]: "resp", family.columns["group"]: "site"})
    before = renamed.copy()
    prepared = family.prepare(renamed, outcome="resp", group="site")
    default = family.prepare(None)
    # the user's names label the outcome and the groups: the dim is "site", not the family's own
    rows = default.dims[default.outcome]
    assert prepared.outcome == "resp" and prepared.attrs["group_dim"] == "site"
    assert prepared.dims["resp"] == [("site" if d == default.attrs["group_dim"] else d) for d in rows]
    assert prepared.coords["site"] == default.coords[default.attrs["group_dim"]]
    np.testing.assert_array_equal(prepared.observed, default.observed)
    assert renamed.equals(before)


@pytest.mark.parametrize("name", sorted(FAMILIES))
@pytest.mark.parametrize("typo", ["pointwize", "iter", "school_column"])
def test_unknown_keywords_are_refused_with_the_valid_ones(name, typo):
    with pytest.raises(hierstan.HierstanError) as error:
        FAMILIES[name].fit(**{typo: 1})
    message = str(error.value)
    assert f"unknown argument(s) {typo}" in message
    assert "variant" in message and "adapt_delta" in message and "outcome" in message


def test_cli_refuses_an_option_the_family_lacks():
    run = subprocess.run([sys.executable, "-m", "hierstan.cli", "fit", "eight_schools",
                          "--parameterization", "centered"], capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "unknown argument(s) parameterization" in run.stderr


def test_cli_list_shows_each_declaration():
    listing = subprocess.run([sys.executable, "-m", "hierstan.cli", "list"], capture_output=True,
                             text=True, check=True).stdout
    for name, family in FAMILIES.items():
        assert f"{name}: {family.description}" in listing
    assert "parameterizations: noncentered (default), centered" in listing
    assert "columns: outcome=log_radon, group=county, predictor=floor" in listing
    assert "priors (bugs): coef_scale=100" in listing


def test_every_family_has_a_report():
    from hierstan.reporting import REPORTS

    assert list(REPORTS) == list(FAMILIES)


def test_warnings_point_at_the_users_line():
    with pytest.warns(hierstan.DataWarning) as caught:
        FAMILIES["thai"].prepare(variant="covariates")
    assert caught[0].filename == __file__
