"""results/README.md (hierstan.results_page): every figure embedded, every table linked, grouped by
family, the run in the header; no fitting (files are touched with the real names)."""

import platform
import re
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from urllib.parse import unquote

import pytest

from hierstan import reporting, results_page
from hierstan.models import FAMILIES
from hierstan.reproduce import reproduce

ROOT = Path(__file__).resolve().parents[2]
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)#]+)\)")  # not images, not anchors

FIGURES = ["eight_schools_funnel.png", "radon_shrinkage.png", "sbc/radon/ecdf.png", "sbc/thai/ecdf.png"]
TABLES = ["eight_schools_diagnostics.md", "eight_schools_diagnostics.csv", "radon_loo.md", "radon_loo.csv",
          "thai_summary.csv", "sbc_summary.md", "sbc/radon/tests.csv", "sbc/thai/tests.csv",
          "radon_kfold.md"]
UNDESCRIBED = "radon_mystery.txt"
SETTINGS = {"engine": "auto", "seed": 7, "chains": 2, "draws": 30, "warmup": 50, "sbc_sims": 3, "folds": 2,
            "started": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "seconds": 3665.2}


@pytest.fixture(autouse=True)
def fake_engine(monkeypatch):
    """"auto" stands for a fake native engine: no engine needed here."""
    engine = SimpleNamespace(name="native", version=lambda: "native (Stan 2.35.0, fake)")
    monkeypatch.setattr(results_page, "get_engine", lambda name: engine)


def _write(out: Path, names: list[str]) -> list[Path]:
    for name in names:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("x")
    return [out / name for name in names]


def _page(tmp_path: Path, families: list[str] = ("radon", "thai", "eight_schools")) -> str:
    written = _write(tmp_path, FIGURES + TABLES + [UNDESCRIBED])
    path = results_page.write_results_page(tmp_path, written, families=list(families), **SETTINGS)
    assert path == tmp_path / "README.md"
    return path.read_text()


def _sections(text: str) -> dict[str, str]:
    """The page's second-level sections by heading."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_every_figure_embedded_every_table_linked_and_every_link_resolves(tmp_path):
    text = _page(tmp_path)
    images = [unquote(target) for target in IMAGE.findall(text)]
    links = [unquote(target) for target in LINK.findall(text)]
    assert sorted(images) == sorted(FIGURES)
    assert set(TABLES + FIGURES + [UNDESCRIBED]) <= set(links)
    for target in images + links:
        assert not Path(target).is_absolute() and (tmp_path / target).exists(), target
    assert str(tmp_path) not in text
    # a table's .md and .csv share one line; the .md first
    assert "[`radon_loo.md`](radon_loo.md), [`radon_loo.csv`](radon_loo.csv): PSIS-LOO" in text


def test_files_grouped_by_family_then_sbc_kfold_and_other(tmp_path):
    sections = _sections(_page(tmp_path))
    assert list(sections) == ["eight_schools", "radon", "thai", "SBC: simulation-based calibration",
                              "K-fold cross-validation", "Other files"]
    expected = {"eight_schools": ["eight_schools_funnel.png", "eight_schools_diagnostics.md"],
                "radon": ["radon_shrinkage.png", "radon_loo.csv"], "thai": ["thai_summary.csv"],
                "SBC: simulation-based calibration": ["sbc_summary.md", "sbc/radon/ecdf.png",
                                                      "sbc/thai/tests.csv"],
                "K-fold cross-validation": ["radon_kfold.md"], "Other files": [UNDESCRIBED]}
    for heading, names in expected.items():
        for name in names:
            assert f"]({name})" in sections[heading], (heading, name)
    # each family's SBC under its folder, families in FAMILIES order; a line given once
    sbc = sections["SBC: simulation-based calibration"]
    assert sbc.index("### [`sbc/radon/`]") < sbc.index("### [`sbc/thai/`]")
    assert sbc.count("ECDF of each parameter's ranks") == 1 and "as for `sbc/radon/` above." in sbc
    assert f"- [`{UNDESCRIBED}`]({UNDESCRIBED})\n" in sections["Other files"]


def test_header_says_how_the_run_was_made(tmp_path):
    header = _page(tmp_path).split("\n## ")[0]
    for field in ["**partial**: eight_schools, radon, thai only",
                  "native (Stan 2.35.0, fake), asked for as `auto`",
                  "seed 7; 2 chains of 50 warmup + 30 draws", "3 simulations per family", "2 folds (radon)",
                  "2026-01-02 03:04 UTC", "1 h 01 min 05 s", f"Python {platform.python_version()}",
                  *(f"{name} {version(name)}" for name in ("hierstan", "numpy", "arviz", "cmdstanpy")),
                  "`make results`",
                  f"`HIERSTAN_ENGINE=native hierstan reproduce --out {tmp_path.name} --seed 7 --chains 2 "
                  "--draws 30 --warmup 50 --sbc-sims 3 --folds 2 --families eight_schools radon thai`"]:
        assert field in header, field
    full = _page(tmp_path, families=list(FAMILIES)).split("\n## ")[0]
    assert "**partial**" not in full and "every family (eight_schools, radon" in full


def test_files_the_run_did_not_write_are_listed_as_such(tmp_path):
    _write(tmp_path, ["exam_caterpillar.png", "bench/benchmark.md", ".hierstan-tmp-radon_loo.csv"])
    sections = _sections(_page(tmp_path))
    earlier = sections["Not written by this run"]
    assert "![exam_caterpillar.png](exam_caterpillar.png)" in earlier and "[`bench/`](bench/)" in earlier
    assert "benchmark.md`](" not in earlier and ".hierstan-tmp" not in "".join(sections.values())
    assert "exam_caterpillar" not in sections["eight_schools"]


def test_reproduce_writes_the_page_last(tmp_path, monkeypatch):
    names = ["eight_schools_funnel.png", "eight_schools_summary.csv"]
    monkeypatch.setitem(reporting.REPORTS, "eight_schools", lambda out, **options: _write(out, names))
    written = reproduce(tmp_path, families=["eight_schools"], sbc_sims=0, folds=0, progress=False)
    assert written[-1] == tmp_path / "README.md"
    text = written[-1].read_text()
    assert "![eight_schools_funnel.png](eight_schools_funnel.png)" in text
    assert "**partial**: eight_schools only" in text and "**SBC**: not run; **K-fold**: not run" in text


# every output has a description: a new result file needs a line in results_page.DESCRIPTIONS -------


def test_every_committed_result_has_a_description():
    """results/ as committed, but for the page itself and bench/ (`make bench` writes it; the page
    links the folder, not its files)."""
    results = ROOT / "results"
    files = [PurePosixPath(path.relative_to(results).as_posix())
             for path in results.rglob("*") if path.is_file()]
    missing = [str(path) for path in files if path.parts[0] != "bench" and str(path) != "README.md"
               and results_page.description(path) is None]
    assert files and not missing


def test_every_file_reporting_names_has_a_description():
    """The file names written in reporting.py, before any run has made them."""
    source = (ROOT / "hierstan" / "reporting.py").read_text()
    names = set(re.findall(r'"(\w+\.(?:csv|md|png|svg|txt))"', source))
    assert len(names) > 30
    assert [name for name in sorted(names) if results_page.description(name) is None] == []
    # and each family's SBC files
    for name in ["ecdf.png", "ranks.csv", "fits.csv", "tests.csv", "summary.txt"]:
        assert results_page.description(f"sbc/radon/{name}") is not None
