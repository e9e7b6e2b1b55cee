"""Column names and level labels are data, never parts of a path: fits, the command line's
--out and --summary, and K-fold's record folder, given names like ``../../x``, a newline, NUL or
300 characters, write only where they were told to (and the compile cache only its hashed
entries)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

from hierstan.cache import cache_dir
from hierstan.models import get_family

MARK = "PWNED"
# names a column may take (one with "/" is refused: netCDF cannot name a variable so)
NAMES = ["..", f"{MARK}\nline", f"{MARK}\0nul", "P" * 250 + MARK, f"-rf {MARK}"]
# the level labels: every one tries to climb out of any folder it might be joined to
LABEL = "../../" + MARK + "_{}\n\0/x"

KFOLD = f"""
import sys, warnings
import pandas as pd
import hierstan
from dask.distributed import Client, LocalCluster
warnings.simplefilter("ignore")
frame = hierstan.radon.load_data()
with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \\
        Client(cluster) as client:
    for i, name in enumerate({NAMES!r}):
        data = frame.rename(columns={{"county": name}})
        data[name] = [{LABEL!r}.format(label) for label in frame["county"]]
        result = hierstan.kfold("radon", data, K=2, group=name, chains=1, draws=40, warmup=40, seed=1,
                                engine="native", folder=f"out/kfold{{i}}", client=client, progress=False)
        print(i, result.elpd_kfold < 0)
"""


def _files(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


def _cli_fit(work: Path, env: dict, name: str, out: str) -> subprocess.CompletedProcess:
    frame = get_family("radon").load_data()
    data = frame.rename(columns={"county": name})
    data[name] = [LABEL.replace("\0", "").format(label) for label in frame["county"]]  # CSV holds no NUL
    data.to_csv(work / "hostile.csv", index=False)
    (work / out).mkdir(parents=True)
    return subprocess.run([sys.executable, "-W", "ignore", "-m", "hierstan.cli", "fit", "radon",
                           "--data", "hostile.csv", "--column", f"group={name}", "--chains", "1",
                           "--draws", "40", "--warmup", "40",
                           "--engine", "native", "--out", f"{out}/fit.nc", "--summary", f"{out}/summary.csv"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=900)


def test_hostile_names_write_only_where_told(tmp_path):
    # deep enough that ../../ from any folder of the run still lands inside tmp_path, where it shows
    work = tmp_path / "a" / "b" / "c" / "work"
    scratch = tmp_path / "a" / "b" / "c" / "tmp"
    work.mkdir(parents=True)
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "HIERSTAN_ENGINE": "native",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                          os.environ.get("PYTHONPATH", "")])}
    cache = cache_dir()
    cached = _files(cache)
    before = _files(tmp_path)

    for i, name in enumerate(n for n in NAMES if "\0" not in n):  # an argument holds no NUL
        done = _cli_fit(work, env, name, f"out/cli{i}")
        assert done.returncode == 0, (name, done.stderr[-3000:])
        assert (work / f"out/cli{i}/fit.nc").is_file() and (work / f"out/cli{i}/summary.csv").is_file()
    done = subprocess.run([sys.executable, "-c", KFOLD], cwd=work, env=env, capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == [str(x) for i in range(len(NAMES)) for x in (i, True)]

    new = _files(tmp_path) - before
    outside = [p for p in new if not (p.is_relative_to(work / "out") or p.is_relative_to(scratch)
                                      or p == work / "hostile.csv")]
    assert outside == []
    assert not [p for p in _files(tmp_path) if MARK in p.name]
    for i in range(len(NAMES)):  # K-fold's records: named by fold, not by any label
        records = sorted(p.name for p in (work / f"out/kfold{i}/fits").iterdir())
        assert records == ["fold_000.json", "fold_001.json", "full.json"]
    # <engine>/<entry>/... with hashed entry names, a build's temporary folder beside it
    # (.<entry>-<random>: other processes may be building) and the locks named by entry
    entry = re.compile(r"\.?(?:driver-|header-)?[0-9a-f]{20}(?:-\w+)?|locks")
    lock = re.compile(r"(?:driver-|header-)?[0-9a-f]{20}\.lock")
    added = [p.relative_to(cache) for p in _files(cache) - cached]
    assert not [p for p in added if not entry.fullmatch(p.parts[1])], added
    assert not [p for p in added if p.parts[1] == "locks" and len(p.parts) > 2
                and not lock.fullmatch(p.parts[2])], added
    assert not [p for p in added if MARK in str(p)]
    assert pd.read_csv(work / "out/cli0/summary.csv").shape[0] > 0
