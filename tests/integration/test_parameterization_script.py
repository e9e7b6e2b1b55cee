"""scripts/parameterization.py end to end on one small regime: the CSV and markdown it writes."""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _script():
    # scripts/ is not a package: load the file as a module
    spec = importlib.util.spec_from_file_location("parameterization_script",
                                                  ROOT / "scripts" / "parameterization.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_writes_every_run(tmp_path):
    script = _script()
    script.main(["--regimes", "balanced_2", "--counties", "50", "--forms", "centered", "noncentered",
                 "auto", "--seeds", "1", "2", "--chains", "2", "--draws", "100", "--warmup", "100",
                 "--out", str(tmp_path)], log=lambda text: None)
    runs = pd.read_csv(tmp_path / "parameterization.csv", keep_default_na=False)
    assert list(runs.columns) == script.COLUMNS
    assert len(runs) == 6 and (runs["regime"] == "balanced_2").all()
    assert (runs["error"] == "").all(), runs["error"].tolist()
    # the forms' order alternates from seed to seed
    assert runs["form"].tolist() == ["centered", "noncentered", "auto", "auto", "noncentered", "centered"]
    assert runs["seed"].tolist() == [1, 1, 1, 2, 2, 2]
    # 2 houses per county say less about a county than the population does: auto centers none
    assert runs["centered_share"].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    assert runs["parameterization_choice"].str.contains("sigma_alpha").tolist() == [False, False, True,
                                                                                    True, False, False]
    assert (runs["sampling_seconds"] > 0).all() and (runs["ess_bulk_min"] > 0).all()
    per_second = runs["ess_bulk_min"] / runs["sampling_seconds"]
    assert runs["ess_bulk_per_s"].tolist() == pytest.approx(per_second.tolist())
    assert (runs["rhat_max"] >= 0.9).all() and (runs["divergences"] >= 0).all()
    assert (runs[["chains", "draws", "warmup"]] == [2, 100, 100]).all().all()
    text = (tmp_path / "parameterization.md").read_text()
    assert "chains 2, draws 100, warmup 100" in text and "--counties 50" in text
    assert "| balanced_2" in text
