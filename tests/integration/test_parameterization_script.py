"""scripts/parameterization.py end to end on one small regime: the CSV and markdown it writes."""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

import hierstan

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _script():
    # scripts/ is not a package: load the file as a module
    spec = importlib.util.spec_from_file_location("parameterization_script",
                                                  ROOT / "scripts" / "parameterization.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_writes_every_run(tmp_path, monkeypatch):
    script = _script()
    fits = []  # every fit the script makes, in its order, to check what it wrote against

    def sample(*args, **kwargs):
        fits.append(sample_as_it_is(*args, **kwargs))
        return fits[-1]

    sample_as_it_is = hierstan.sample
    monkeypatch.setattr(hierstan, "sample", sample)
    script.main(["--regimes", "balanced_2", "eight_schools", "--counties", "50", "--forms", "centered",
                 "noncentered", "auto", "--seeds", "1", "2", "--chains", "2", "--draws", "100", "--warmup",
                 "100", "--out", str(tmp_path)], log=lambda text: None)
    runs = pd.read_csv(tmp_path / "parameterization.csv", keep_default_na=False)
    assert list(runs.columns) == script.COLUMNS
    assert runs["regime"].tolist() == ["balanced_2"] * 6 + ["eight_schools"] * 6
    assert (runs["error"] == "").all(), runs["error"].tolist()
    # the forms' order alternates from seed to seed
    assert runs["form"].tolist() == ["centered", "noncentered", "auto", "auto", "noncentered", "centered"] * 2
    assert runs["seed"].tolist() == [1, 1, 1, 2, 2, 2] * 2
    # 2 houses per county say less about a county than the population does: auto centers none
    # (nor any of the eight schools, whose standard errors are large next to tau)
    assert runs["centered_share"].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 1.0] * 2
    balanced = runs[runs["regime"] == "balanced_2"]
    assert balanced["parameterization_choice"].str.contains("sigma_alpha").tolist() == [False, False, True,
                                                                                        True, False, False]
    assert (runs["sampling_seconds"] > 0).all() and (runs["ess_bulk_min"] > 0).all()
    per_second = runs["ess_bulk_min"] / runs["sampling_seconds"]
    assert runs["ess_bulk_per_s"].tolist() == pytest.approx(per_second.tolist())
    assert (runs["rhat_max"] >= 0.9).all()
    # each run's divergences are its fit's divergent transitions (seed 1's centered eight schools
    # diverges: 12 of 200)
    assert runs["divergences"].tolist() == [int(fit.sample_stats["diverging"].sum()) for fit in fits]
    assert runs["divergences"].any()
    # little data per group: the centered form's funnel mixes far worse than the non-centered form
    by_form = runs.set_index(["regime", "seed", "form"])["ess_bulk_min"].unstack()
    assert (by_form["centered"] < 0.5 * by_form["noncentered"]).all(), by_form
    assert (runs[["chains", "draws", "warmup"]] == [2, 100, 100]).all().all()
    text = (tmp_path / "parameterization.md").read_text()
    assert "chains 2, draws 100, warmup 100" in text and "--counties 50" in text
    assert "| balanced_2" in text and "| eight_schools" in text
