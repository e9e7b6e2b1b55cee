"""The benchmark runner: one fit per fresh process, measured; engines agree on eight schools."""


import numpy as np
import pytest

from hierstan.bench import run

pytest.importorskip("nutpie", reason="the bench extra (pymc, nutpie) is not installed")

SHORT = {"chains": 2, "draws": 300, "warmup": 300, "seed": 3}


@pytest.fixture(scope="module")
def eight_schools():
    return {engine: run._timed_fit(run.Spec(model="eight_schools", engine=engine, **SHORT), rep=1)
            for engine in ("native", "nutpie")}


@pytest.mark.parametrize("engine", ["native", "nutpie"])
def test_a_run_reports_every_measure(eight_schools, engine):
    row, result = eight_schools[engine]
    assert "error" not in row, row
    assert row["gradients"] >= SHORT["chains"] * SHORT["draws"]  # at least one leapfrog step per draw
    assert 0 < row["sample_s"] < result["process_s"]
    # (full run - one-draw run) / gradients; None when noise made the one-draw run the longer
    assert row.get("us_per_gradient") is None or row["us_per_gradient"] > 0
    assert 0 < row["ess_bulk_min"] <= 2 * SHORT["chains"] * SHORT["draws"]
    assert row["rhat_max"] < 1.05
    assert row["peak_mib"] > 50  # a Python process with numpy and the engine loaded
    assert set(result["means"]) == {"mu", "tau", "theta"}


def test_engines_agree_on_the_posterior(eight_schools):
    """Same model, same data: the native engine's and nutpie's means differ only by Monte Carlo error."""
    results = {("eight_schools", engine, 1): result for engine, (_, result) in eight_schools.items()}
    z = run._agreement(results, "eight_schools", "nutpie", 1)
    assert z is not None and z < 4.5  # 10 means: P(max |z| > 4.5) < 1e-4 under agreement


def test_a_failed_run_is_reported_not_raised():
    row, _ = run._timed_fit(run.Spec(model="eight_schools", engine="native", chains=0), rep=1)
    assert "chains must be an integer >= 1" in row["error"]


def test_worker_spec_sets_the_data():
    spec = run.Spec(model="radon", engine="pymc", likelihood="houses", simulate={"J": 5, "N": 50, "seed": 1})
    data = run.stan_data(spec).data
    assert (data["N"], data["J"], data["use_cells"], data["pointwise"]) == (50, 5, 0, 0)


def test_ratios_divide_by_nutpie_and_cmdstan():
    medians = run.pd.DataFrame({
        "model": ["m"] * 3, "engine": ["native", "cmdstan", "nutpie"],
        "ess_per_s": [10.0, 20.0, 40.0], "us_per_gradient": [3.0, 1.5, 1.0],
        "sample_s": [2.0, 1.0, 1.0], "build_s": [1.0, 4.0, 1.0]})
    table = run.ratios(medians).set_index("model")
    assert table.loc["m", "ESS/s native / nutpie"] == 0.25
    assert table.loc["m", "ESS/s cmdstan / nutpie"] == 0.5
    assert table.loc["m", "us_per_gradient native / cmdstan"] == 2.0
    assert np.isclose(table.loc["m", "build_s native / cmdstan"], 0.25)
