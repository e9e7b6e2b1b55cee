"""The one API every family shares: declarations, keyword checking, column arguments, the CLI."""

import inspect
import re
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import hierstan
from hierstan.family import SAMPLER_ARGUMENTS
from hierstan.models import FAMILIES
from hierstan.programs import load_program


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_declaration_matches_the_preparation(name):
    family = FAMILIES[name]
    parameters = inspect.signature(family.prepare).parameters
    assert parameters["variant"].default == family.variants[0]
    if family.parameterizations:
        assert parameters["parameterization"].default in (family.parameterizations[0], None)
    # the formula names the columns of a formula family
    assert {"outcome", "group"} <= set(family.columns) or "formula" in family.options
    assert not set(family.options) & set(SAMPLER_ARGUMENTS)


@pytest.mark.parametrize("name", sorted(n for n, f in FAMILIES.items() if f.columns))
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
    assert "variant" in message and "adapt_delta" in message
    assert ("outcome" if FAMILIES[name].columns else "formula") in message


def test_cli_refuses_an_option_the_family_lacks():
    run = subprocess.run([sys.executable, "-m", "hierstan.cli", "fit", "exam",
                          "--parameterization", "centered"], capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "unknown argument(s) parameterization" in run.stderr


def test_cli_list_shows_each_declaration():
    listing = subprocess.run([sys.executable, "-m", "hierstan.cli", "list"], capture_output=True,
                             text=True, check=True).stdout
    for name, family in FAMILIES.items():
        assert f"{name}: {family.description}" in listing
    assert "parameterizations: auto (default), noncentered, centered" in listing
    assert "columns: outcome=log_radon, group=county, predictor=floor" in listing
    assert "priors (bugs): coef_scale=100" in listing


def test_every_family_has_a_report():
    from hierstan.reporting import REPORTS

    assert list(REPORTS) == list(FAMILIES)


def test_warnings_point_at_the_users_line():
    with pytest.warns(hierstan.DataWarning) as caught:
        FAMILIES["thai"].prepare(variant="covariates")
    assert caught[0].filename == __file__


# a declaration in a data block: [array[...]] type[<...>][[...]] name;
DECLARED = re.compile(r"^\s*(?:array\[[^\]]*\]\s*)?(?:int|real|vector|matrix|corr_matrix|cov_matrix)\b"
                      r"[^;]*?\s(\w+);", re.MULTILINE)


@pytest.mark.parametrize(("name", "variant"),
                         [(n, v) for n, f in sorted(FAMILIES.items()) for v in f.variants])
def test_program_declares_exactly_the_data_prepare_gives(name, variant):
    family = FAMILIES[name]
    for form in family.parameterizations or [None]:
        options = {"parameterization": form} if form else {}
        if name == "multigroup" and variant != "hierarchical":
            options = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # thai covariates: rows dropped for missing msesc
            prepared = family.prepare(None, variant=variant, **options)
        declared = DECLARED.findall(load_program(prepared.program).block("data"))
        assert len(declared) == len(set(declared))
        assert set(declared) == set(prepared.data), (name, variant, form)


def test_simulators_draw_from_the_stated_model():
    """Moments of large simulated designs against values computed from the truth alone."""
    from hierstan.models import eight_schools, mathtest, thai

    design = pd.DataFrame({"school": [f"s{j}" for j in range(4000)], "y": 0.0, "sigma": 2.0})
    frame, truth = eight_schools.simulate({"mu": 3.0, "tau": 4.0}, data=design, seed=1)
    assert design["y"].eq(0).all()  # the design is not modified
    assert frame["y"].mean() == pytest.approx(3.0, abs=0.2)
    assert frame["y"].var() == pytest.approx(16 + 4, rel=0.1)

    design = pd.DataFrame({"school": np.repeat(np.arange(300), 40), "mathscore": 0.0})
    frame, truth = mathtest.simulate(data=design, seed=2)
    within = frame.groupby("school")["mathscore"].var().mean()
    means = frame.groupby("school")["mathscore"].mean()
    assert within == pytest.approx(truth["sigma2"], rel=0.05)
    # variance of a school mean: tau2 sigma2 + sigma2 / 40
    assert means.var() == pytest.approx(truth["sigma2"] * (truth["tau2"] + 1 / 40), rel=0.2)

    design = pd.DataFrame({"school_id": np.repeat(np.arange(2000), 30), "pped": np.tile([0, 1], 30_000),
                           "repeat": 0})
    frame, truth = thai.simulate(data=design, seed=3)
    draws = np.random.default_rng(4).standard_normal(200_000)
    for pped, mu, sigma in ((0, truth["mu_alpha"], truth["sigma_alpha"]),
                            (1, truth["mu_alpha"] + truth["mu_beta"],
                             np.hypot(truth["sigma_alpha"], truth["sigma_beta"]))):
        expected = np.mean(1 / (1 + np.exp(-(mu + sigma * draws))))
        assert frame.loc[frame["pped"] == pped, "repeat"].mean() == pytest.approx(expected, abs=0.01)
