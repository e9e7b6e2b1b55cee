"""A full disk, as a user meets it: a clear error naming the file and "no space left", nothing
half-written where a whole file is expected, and a rerun that succeeds once there is room.

The disk is real where it can be: a tmpfs of 64 kB that each test mounts (root only; skipped
elsewhere) and enlarges to show the rerun. Compilers are faked (a shell script that writes its
output, on that real full disk); CmdStan's build is faked in Python (its error text injected)."""

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import arviz as az
import pandas as pd
import pytest

import hierstan.cli as cli
from hierstan import CacheError, SamplingError, many_fits, models
from hierstan.cache import MANIFEST, trusted
from hierstan.engines import cmdstan_engine, native_build, native_engine
from hierstan.engines.base import SamplerSettings
from hierstan.engines.cmdstan_engine import CmdStanEngine
from hierstan.engines.native_build import Toolchain
from hierstan.errors import DiskFullError
from hierstan.files import netcdf_bytes, write_whole
from hierstan.programs import Program
from hierstan.reproduce import reproduce

ROOT = Path(__file__).resolve().parents[2]
TINY = Program("tiny", "parameters { real x; } model { x ~ normal(0, 1); }\n")




def _no_space(message: str, what: str, path: Path) -> None:
    """The message names the file, says "no space left" on its file system and how full it is."""
    assert f"cannot write {what} {path}: no space left on the file system of " in message, message
    assert re.search(r"\([\d.]+ (bytes|kB) free of 6\d\.\d kB\)", message), message


def _dot_files(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".*")]


def _centered_eight() -> az.InferenceData:
    """A stored fit (ArviZ's example data, ~700 kB as netCDF): no sampling in these tests."""
    idata = az.load_arviz_data("centered_eight")
    idata.posterior.attrs["group_dim"] = "school"  # as a hierstan fit names its group dimension
    return idata


# hierstan fit --out / --summary ---------------------------------------------------------------

FAKE_FIT = """
import sys
import arviz as az
import hierstan.cli as cli

class Family:
    def fit(self, *args, **kwargs):
        return az.load_arviz_data("centered_eight")

cli.get_family = lambda name: Family()
sys.exit(cli.main(sys.argv[1:]))
"""


def _fit_command(*args: str) -> subprocess.CompletedProcess:
    """``hierstan fit`` with its fit replaced by a stored one, in a child: the exit code and
    stderr as a user sees them, and a crash (HDF5's, on a full disk) cannot take pytest down."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, "-c", FAKE_FIT, "fit", "eight_schools", *args],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path}, timeout=300)


def test_fit_out_on_a_full_disk_then_again_with_room(small_disk):
    summary, out = small_disk.path / "summary.csv", small_disk.path / "fit.nc"
    failed = _fit_command("--summary", str(summary), "--out", str(out))
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert "Traceback" not in failed.stderr
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("hierstan: error: "), failed.stderr
    _no_space(last, "the --out file", out)
    assert last.endswith("free space there, or give --out a folder with room, and run the fit again")
    # the summary, written first, is whole; of the netCDF file nothing is left, not even a temporary
    assert sorted(p.name for p in small_disk.path.iterdir()) == ["summary.csv"]
    table = pd.read_csv(summary, index_col=0)
    assert list(table.index) == list(az.summary(_centered_eight()).index)

    small_disk.resize("4m")
    again = _fit_command("--summary", str(summary), "--out", str(out), "--force")
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(p.name for p in small_disk.path.iterdir()) == ["fit.nc", "summary.csv"]
    back, fitted = az.from_netcdf(out), az.load_arviz_data("centered_eight")
    assert all(back[group].identical(fitted[group]) for group in fitted.groups())


def test_netcdf_bytes_read_back_as_arviz_own_file(tmp_path):
    """--out is written from memory (netcdf_bytes), not by HDF5: the file reads back as the one
    ``idata.to_netcdf`` writes, every group and attribute."""
    idata = az.load_arviz_data("centered_eight")
    ours, theirs = tmp_path / "ours.nc", tmp_path / "theirs.nc"
    ours.write_bytes(netcdf_bytes(idata))
    idata.to_netcdf(str(theirs))
    a, b = az.from_netcdf(ours), az.from_netcdf(theirs)
    assert a.groups() == b.groups() == idata.groups()
    for group in idata.groups():
        assert a[group].identical(b[group]), group
    assert ours.stat().st_size < 1.2 * theirs.stat().st_size  # compressed as ArviZ compresses


def test_a_failed_write_keeps_the_earlier_file(small_disk):
    target = small_disk.path / "table.csv"
    target.write_text("earlier\n")
    with pytest.raises(DiskFullError) as found:
        write_whole(target, lambda path: path.write_bytes(b"x" * 200_000), "the table")
    _no_space(str(found.value), "the table", target)
    assert target.read_text() == "earlier\n" and [p.name for p in small_disk.path.iterdir()] == ["table.csv"]


# hierstan reproduce: the results files ---------------------------------------------------------


def test_reproduce_on_a_full_disk_then_again_with_room(small_disk, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(models.eight_schools, "fit", lambda **options: _centered_eight())
    reference = reproduce(tmp_path / "reference", families=["eight_schools"], sbc_sims=0, folds=0)
    out = small_disk.path / "results"
    code = cli.main(["reproduce", "--out", str(out), "--families", "eight_schools", "--sbc-sims", "0",
                     "--folds", "0"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 1
    # the tables fit in 64 kB, the first plot (115 kB) does not
    _no_space(error, "the result", out / "eight_schools_funnel.png")
    assert "the files written before it are complete" in error
    kept = sorted(p.name for p in out.iterdir())
    assert kept == ["eight_schools_diagnostics.csv", "eight_schools_diagnostics.md",
                    "eight_schools_summary.csv"]
    for name in kept:
        assert (out / name).read_bytes() == (tmp_path / "reference" / name).read_bytes()

    small_disk.resize("2m")
    assert cli.main(["reproduce", "--out", str(out), "--families", "eight_schools", "--sbc-sims", "0",
                     "--folds", "0"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference)
    assert not _dot_files(out)


def test_every_results_writer_goes_through_write_whole():
    """reporting.py and SBCResult.write write no file directly (a direct write on a full disk
    would leave a half file under the result's own name)."""
    writes = re.compile(r"\.(to_csv|write_text|write_bytes|savefig|to_netcdf)\((?!temporary|path\b)")
    for module in ("reporting.py", "sbc.py"):
        text = (ROOT / "hierstan" / module).read_text()
        direct = [line.strip() for line in text.splitlines() if writes.search(line)]
        assert direct == [], (module, direct)


# SBC and K-fold records ----------------------------------------------------------------------


def _job(*, key, marks):
    """A fit's stand-in: marks that it ran, answers with a record of ~6 kB."""
    Path(marks, f"{key}-{os.urandom(4).hex()}").touch()
    return {"payload": key * 3000}


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client

    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as opened:
        yield opened


def test_records_on_a_full_disk_then_a_rerun_resumes(small_disk, tmp_path, client):
    marks = tmp_path / "marks"
    marks.mkdir()
    tasks = {f"t{i:02d}": {"key": f"t{i:02d}", "marks": str(marks)} for i in range(14)}
    folder = small_disk.path / "run"
    with pytest.raises(DiskFullError) as found:
        many_fits.run(_job, tasks, folder=folder, settings={"n": 1}, client=client, progress=False)
    message = str(found.value)
    failed = re.search(r"cannot write the record (\S+): ", message).group(1)
    _no_space(message, "the record", Path(failed))
    assert "the records written before it are kept" in message and "same folder" in message
    kept = {p.stem: p.read_text() for p in (folder / "fits").iterdir()}
    assert 1 <= len(kept) < len(tasks) and Path(failed).stem not in kept
    assert all(json.loads(text)["payload"] == key * 3000 for key, text in kept.items())  # all whole
    assert not _dot_files(folder)

    small_disk.resize("1m")
    before = set(marks.iterdir())
    records = many_fits.run(_job, tasks, folder=folder, settings={"n": 1}, client=client, progress=False)
    assert all(r["status"] == "ok" for r in records.values()) and list(records) == list(tasks)
    # the kept records were not run again; every missing one was (a task of the first run that
    # its cancel came too late for may have marked too: only what ran is checked, not how often)
    ran_again = {p.name.split("-")[0] for p in set(marks.iterdir()) - before}
    assert ran_again.isdisjoint(kept) and ran_again >= set(tasks) - set(kept)
    assert all((folder / "fits" / f"{key}.json").read_text() == text for key, text in kept.items())
    assert sorted(p.stem for p in (folder / "fits").iterdir()) == sorted(tasks)


def test_a_killed_writer_temporary_is_not_read_as_a_record(tmp_path):
    store = many_fits._Store(tmp_path, {})
    store.write("t1", {"key": "t1", "status": "ok"})
    (tmp_path / "fits" / ".hierstan-abc123-t2.json").write_text('{"key": "t2", "sta')  # cut short
    assert list(store.load()) == ["t1"]


# the compile cache: native builds (a fake compiler on the real full disk) -----------------------

FAKE_COMPILER = """#!/bin/sh
# writes -o's file: 2 kB for the driver object and the header, 100 kB for a program's object
out=""
while [ $# -gt 0 ]; do [ "$1" = "-o" ] && out="$2"; shift; done
case "$out" in *.gch|*driver.o) size=2000;; *) size=100000;; esac
head -c "$size" /dev/zero > "$out"
"""

FAKE_STANC = """#!/bin/sh
for arg; do case "$arg" in --o=*) echo "// generated" > "${arg#--o=}";; esac; done
"""


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def fake_toolchain(tmp_path, monkeypatch):
    stan = tmp_path / "stan"
    stan.mkdir()
    _script(stan / "stanc", FAKE_STANC)
    compiler = _script(tmp_path / "fake-c++", FAKE_COMPILER)
    tools = Toolchain(stan, "0.0", str(compiler), "fake c++ 1.0")
    monkeypatch.setattr(native_build, "toolchain", lambda: tools)
    return tools


def test_native_build_on_a_full_cache_then_again_with_room(small_disk, fake_toolchain, monkeypatch):
    cache = small_disk.path / "cache"
    monkeypatch.setenv("HIERSTAN_CACHE_DIR", str(cache))
    with pytest.raises(CacheError) as found:
        native_build.executable(TINY)
    message = str(found.value)
    entry = Path(re.search(r"cannot write the build of tiny (\S+): ", message).group(1))
    _no_space(message, "the build of tiny", entry)
    assert entry.parent == cache / "native"
    assert "No space left on device" in message  # the compiler's own line, quoted
    assert "nothing half-built is kept" in message and "HIERSTAN_CACHE_DIR" in message
    assert not entry.exists()
    assert not _dot_files(cache / "native"), "a build folder was left behind"

    small_disk.resize("1m")
    exe, built = native_build.executable(TINY)
    assert built and exe.stat().st_size == 100_000 and trusted(exe.parent, "tiny")
    assert exe.parent == entry


def test_a_compiler_whose_own_message_found_no_room(small_disk, fake_toolchain, monkeypatch):
    """A full disk may refuse the compiler's message to build.log too: the disk's state tells."""
    monkeypatch.setenv("HIERSTAN_CACHE_DIR", str(small_disk.path / "cache"))
    compiler = Path(fake_toolchain.compiler)
    _script(compiler, compiler.read_text().replace('> "$out"', '> "$out" 2>/dev/null'))
    with pytest.raises(CacheError) as found:
        native_build.executable(TINY)
    message = str(found.value)
    entry = Path(re.search(r"cannot write the build of tiny (\S+): ", message).group(1))
    _no_space(message, "the build of tiny", entry)
    assert "(compiling tiny failed (exit 1); the end of " in message  # the failure, as _run saw it
    assert not _dot_files(small_disk.path / "cache" / "native")


def test_compiler_temporaries_in_a_full_tmpdir(tmp_path, fake_toolchain, monkeypatch):
    """Injected: the compiler says its temporary file (in $TMPDIR) found no space."""
    temporaries = tmp_path / "tmp"
    temporaries.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporaries))
    monkeypatch.setenv("HIERSTAN_CACHE_DIR", str(tmp_path / "cache"))
    _script(Path(fake_toolchain.compiler), f"""#!/bin/sh
echo "cc1plus: fatal error: error writing to {temporaries}/ccQ1w2e3.s: No space left on device" >&2
exit 1
""")
    with pytest.raises(CacheError) as found:
        native_build.executable(TINY)
    message = str(found.value)
    assert f"cannot write the compiler's temporary files for hierstan's Stan driver {temporaries}/cc*: " \
           "no space left" in message
    assert f"the compiler keeps its temporary files in {temporaries} ($TMPDIR, else /tmp)" in message
    assert "set TMPDIR to a folder with room" in message
    assert not _dot_files(tmp_path / "cache")


# the compile cache: CmdStan builds (cmdstanpy faked, its error injected) -----------------------


def test_cmdstan_build_on_a_full_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("HIERSTAN_CACHE_DIR", str(tmp_path / "cache"))
    full = {"now": True}

    class Model:
        def __init__(self, stan_file=None, exe_file=None):
            if exe_file is None:
                Path(stan_file).with_suffix("").write_bytes(b"half an executable")
                if full["now"]:
                    raise ValueError("Failed to compile Stan model 'tiny'. Console:\n/usr/bin/ld: final "
                                     "link failed: No space left on device\ncollect2: error: ld returned "
                                     "1 exit status")
                Path(stan_file).with_suffix("").write_bytes(b"an executable")

        def sample(self, **kwargs):
            raise AssertionError("not sampled here")

    fake = SimpleNamespace(CmdStanModel=Model, __version__="0",
                           cmdstan_path=lambda: str(tmp_path / "cmdstan"))
    monkeypatch.setattr(cmdstan_engine, "_cmdstanpy", lambda: fake)
    monkeypatch.setattr(CmdStanEngine, "version", classmethod(lambda cls: "cmdstan 0 (fake)"))
    with pytest.raises(CacheError) as found:
        CmdStanEngine().compile(TINY, progress=False)
    message = str(found.value)
    folder = Path(re.search(r"cannot write the build of tiny (\S+): ", message).group(1))
    assert "no space left" in message
    assert "(/usr/bin/ld: final link failed: No space left on device)" in message
    assert sorted(p.name for p in folder.iterdir()) == ["tiny.stan"]  # no half executable, no manifest
    full["now"] = False
    CmdStanEngine().compile(TINY, progress=False)
    assert trusted(folder, "tiny") and (folder / MANIFEST).exists()


# the native sampler's run folder (its messages; the real full disk is in tests/integration) ----


def _run_folder(tmp_path: Path, columns: int, stderr: str = "", log: str = "") -> Path:
    run = tmp_path / "hierstan-tiny-abc"
    run.mkdir()
    (run / "columns.txt").write_text("\n".join(f"c{i}" for i in range(columns)) + "\n")
    (run / "data.json").write_text("{}" + " " * 998)  # 1000 bytes
    (run / "stderr.txt").write_text(stderr)
    (run / "stan.log").write_text(log)
    return run


def test_driver_that_could_not_write_its_draws(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    run = _run_folder(tmp_path, 25, f"cannot write {tmp_path}/chain-2.bin: No space left on device\n")
    said = native_engine._failure(run, 70, SamplerSettings(chains=4, draws=1000), [])
    assert f"cannot write the draws in the sampler's run folder {run}: no space left on the file system " \
           f"of {tmp_path}" in said
    assert f"(cannot write {tmp_path}/chain-2.bin: No space left on device)" in said
    assert f"Python's temporary folder, {tmp_path} ($TMPDIR, else /tmp)" in said
    assert "set TMPDIR to a folder with room for about 800.0 kB of draws" in said  # 4 x 1000 x 25 x 8


def _meminfo(name: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(name)


def test_driver_killed_by_sigkill_message(tmp_path):
    run = _run_folder(tmp_path, 30, log="info\tGradient evaluation took 1e-05 seconds\n"
                                        "info\tIteration: 100 / 2000 [  5%]  (Warmup)\n")
    said = native_engine._failure(run, -9, SamplerSettings(chains=2, draws=5000),
                                  ["Chain [1] Iteration: 100 / 2000"])
    assert said.startswith("the sampler was killed by signal 9 (SIGKILL): most often the kernel's "
                           "out-of-memory killer")
    # 2 x 5000 x 30 x 8 = 2.4 MB of draws, 1000 bytes of data
    assert "estimated as its draws (2 chains x 5000 draws x 30 columns x 8 bytes = 2.4 MB) plus its data " \
           "(1.0 kB): about 2.4 MB" in said
    assert f"this machine has {_meminfo('MemTotal') / 1e9:.1f} GB of memory" in said
    assert "its last progress line: Chain [1] Iteration: 100 / 2000" in said
    assert said.endswith("info\tIteration: 100 / 2000 [  5%]  (Warmup)")


def test_driver_killed_by_sigterm_says_so_without_the_memory(tmp_path):
    said = native_engine._failure(_run_folder(tmp_path, 3), -15, SamplerSettings(), [])
    assert said.startswith("the sampler was killed by signal 15 (SIGTERM): a request to stop")
    assert "memory" not in said and said.endswith("its log is empty")


def test_driver_out_of_address_space(tmp_path):
    said = native_engine._failure(_run_folder(tmp_path, 3, "std::bad_alloc\n"), 70, SamplerSettings(), [])
    assert said.startswith("the sampler ran out of memory: an allocation failed (std::bad_alloc)")
    assert "ulimit -v" in said and "this machine has" in said


def test_cmdstan_killed_chains_are_named():
    said = cmdstan_engine._killed("Error during sampling:\n\nCommand and output files:\nRunSet: chains=4, "
                                  "chain_ids=[1, 2, 3, 4], num_processes=4\n retcodes=[0, -9, 0, -9]\n")
    assert said.startswith("the process of chain(s) 2, 4 was killed by signal 9 (SIGKILL): most often "
                           "the kernel's out-of-memory killer")
    assert "this machine has" in said
    assert cmdstan_engine._killed("retcodes=[-15]").startswith("CmdStan was killed by signal 15 (SIGTERM)")
    assert cmdstan_engine._killed("retcodes=[0, 70]") == ""


def test_sampling_error_is_raised_for_a_short_chain_on_a_full_disk(small_disk):
    """Before the driver said so itself, a full run folder showed as a short chain file."""
    run = small_disk.path / "run"
    run.mkdir()
    (run / "columns.txt").write_text("lp__\nx\n")
    (run / "variables.tsv").write_text("x\t\n")
    (run / "chain-1.bin").write_bytes(b"\0" * 16)  # 1 draw of 2 columns ...
    filler = small_disk.path / "filler"
    with pytest.raises(OSError), filler.open("wb") as f:  # ... and then the disk is full
        f.write(b"\0" * 100_000)
    with pytest.raises(SamplingError) as found:
        native_engine._read_draws(run, SamplerSettings(chains=1, draws=1000))
    message = str(found.value)
    assert f"cannot write the draws in the sampler's run folder {run}: no space left" in message
    assert "(chain 1 wrote 1 of 1000 draws)" in message
    filler.unlink()
    with pytest.raises(SamplingError, match=r"^chain 1 wrote 1 of 1000 draws$"):  # room now: not a full disk
        native_engine._read_draws(run, SamplerSettings(chains=1, draws=1000))
