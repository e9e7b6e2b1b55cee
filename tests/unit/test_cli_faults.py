"""The command line's answers to bad input, as a user sees them: one line, an exit code, nothing
half-written. Every case but the last is decided before any compile: the subprocesses get a
compile cache that is a regular file, so a regression shows as exit 1 ("is a file, not a
folder"), never as a compile."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from unprivileged import where_modes_bind

import hierstan.cli as cli
from hierstan import CacheError, DataError, EngineUnavailableError, SamplingError, UnknownNameError

ROOT = Path(__file__).resolve().parents[2]
SCHOOLS = (ROOT / "data" / "eight_schools.csv").read_text()


def _env(tmp_path: Path, cache: Path | None = None, **extra) -> dict:
    if cache is None:
        cache = tmp_path / "no-compile-cache"
        cache.touch()  # a file: any attempt to compile or sample fails at once, with exit 1
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "PYTHONPATH": path, "HIERSTAN_CACHE_DIR": str(cache), **extra}


def _hierstan(tmp_path: Path, *args, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hierstan.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=tmp_path, env=env or _env(tmp_path), timeout=timeout)


def _one_error(run: subprocess.CompletedProcess, code: int, *phrases: str) -> str:
    """The run exited ``code`` with one line ``hierstan: error: ...`` holding ``phrases``."""
    assert run.returncode == code, (run.returncode, run.stderr[-2000:])
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hierstan: error: "), run.stderr
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])
    return lines[0]


# --data -------------------------------------------------------------------------------------


def _missing(tmp_path):
    return tmp_path / "nowhere.csv"


def _empty(tmp_path):
    (path := tmp_path / "empty.csv").touch()
    return path


def _binary(tmp_path):
    (path := tmp_path / "schools.csv").write_bytes(bytes(range(256)) * 8)
    return path


def _folder(tmp_path):
    (path := tmp_path / "schools").mkdir()
    return path


def _header_only(tmp_path):
    (path := tmp_path / "header.csv").write_text("school,y,sigma\n")
    return path


def _latin1(tmp_path):
    (path := tmp_path / "latin1.csv").write_bytes("school,y,sigma\nRoyal \xe9cole,1,2\n".encode("latin-1"))
    return path


def _unbalanced_quote(tmp_path):
    (path := tmp_path / "quote.csv").write_text('school,y,sigma\n"A,1,2\n')
    return path


@pytest.mark.parametrize("make, problem", [
    (_missing, "no such file"),
    (_empty, "the file is empty"),
    (_binary, "not a CSV file (it holds binary data)"),
    (_folder, "is a folder, not a CSV file"),
    (_header_only, "has a header (school, y, sigma) but no data rows"),
    (_latin1, "not UTF-8 text (line 2 has byte 0xe9)"),
    (_unbalanced_quote, "not a readable CSV file"),
])
def test_bad_data_file_is_one_line_and_exit_2(tmp_path, make, problem):
    path = make(tmp_path)
    run = _hierstan(tmp_path, "fit", "eight_schools", "--data", path)
    _one_error(run, 2, f"--data {path}: {problem}")


def test_unreadable_data_file(tmp_path):
    path = tmp_path / "secret.csv"
    path.write_text(SCHOOLS)
    path.chmod(0)
    where_modes_bind(lambda: _one_error(_hierstan(tmp_path, "fit", "eight_schools", "--data", path), 2,
                                        f"--data {path}: cannot be read (Permission denied)"))


# --out, --summary, --force -------------------------------------------------------------------


def test_out_in_a_missing_folder_is_refused_before_fitting(tmp_path):
    out = tmp_path / "not made" / "fit.nc"
    run = _hierstan(tmp_path, "fit", "eight_schools", "--out", out)
    _one_error(run, 2, f"--out {out}: the folder {out.parent} does not exist")
    assert not out.parent.exists()


def test_summary_in_a_folder_that_takes_no_files(tmp_path):
    # /proc refuses new files to root too (a chmod would not)
    run = _hierstan(tmp_path, "fit", "eight_schools", "--summary", "/proc/summary.csv")
    _one_error(run, 2, "--summary /proc/summary.csv: cannot write in the folder /proc")


def test_out_in_a_read_only_folder(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)

    def refused():
        run = _hierstan(tmp_path, "fit", "eight_schools", "--out", folder / "fit.nc")
        _one_error(run, 2, f"cannot write in the folder {folder} (Permission denied)")

    where_modes_bind(refused)
    assert list(folder.iterdir()) == []


def test_out_that_is_a_folder(tmp_path):
    _one_error(_hierstan(tmp_path, "fit", "eight_schools", "--out", tmp_path), 2,
               f"--out {tmp_path}: is a folder; give a file name")


@pytest.mark.parametrize("option", ["--out", "--summary"])
def test_existing_output_is_kept_without_force(tmp_path, option):
    existing = tmp_path / "earlier.nc"
    existing.write_bytes(b"an earlier fit")
    before = existing.stat()
    run = _hierstan(tmp_path, "fit", "eight_schools", option, existing)
    _one_error(run, 2, f"{option} {existing}: the file already exists; pass --force to overwrite it")
    assert existing.read_bytes() == b"an earlier fit"
    assert existing.stat().st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier.nc", "no-compile-cache"]


def test_force_lets_the_fit_start(tmp_path):
    # past the checks of --out, the fit meets the (file) cache: exit 1, the earlier file untouched
    existing = tmp_path / "earlier.nc"
    existing.write_bytes(b"an earlier fit")
    run = _hierstan(tmp_path, "fit", "eight_schools", "--out", existing, "--force")
    _one_error(run, 1, "is a file, not a folder", "HIERSTAN_CACHE_DIR")
    assert existing.read_bytes() == b"an earlier fit"


def test_out_and_summary_the_same_file(tmp_path):
    run = _hierstan(tmp_path, "fit", "eight_schools", "--out", "same", "--summary", "same")
    _one_error(run, 2, "--out and --summary name the same file")


def test_force_is_documented(tmp_path):
    run = _hierstan(tmp_path, "fit", "--help")
    assert run.returncode == 0
    assert "--force" in run.stdout
    assert "overwrite the --out and --summary files" in " ".join(run.stdout.split())


def test_reproduce_checks_its_folder_first(tmp_path):
    (tmp_path / "results").touch()
    run = _hierstan(tmp_path, "reproduce", "--out", tmp_path / "results" / "here")
    _one_error(run, 2, f"--out {tmp_path / 'results' / 'here'}: cannot write results in this folder")


# exit codes --------------------------------------------------------------------------------


def test_usage_and_data_errors_exit_2(tmp_path):
    # argparse's own
    run = _hierstan(tmp_path, "fit", "eight_schools", "--chains", "four")
    assert run.returncode == 2 and "invalid int value" in run.stderr and "Traceback" not in run.stderr
    _one_error(_hierstan(tmp_path, "fit", "nine_schools"), 2, "unknown model 'nine_schools'")
    _one_error(_hierstan(tmp_path, "fit", "eight_schools", "--prior", "tau_scale=wide"), 2,
               "must be a number, got 'wide'")
    bad = tmp_path / "bad.csv"
    bad.write_text("school,y,sigma\nA,1,0\nB,2,3\n")
    _one_error(_hierstan(tmp_path, "fit", "eight_schools", "--data", bad), 2, "'sigma' must be > 0")


def test_engine_and_cache_failures_exit_1(tmp_path):
    # no compiler on PATH: the native engine is unavailable
    run = _hierstan(tmp_path, "fit", "eight_schools", "--engine", "native",
                    env=_env(tmp_path, PATH=str(tmp_path), CXX=""))
    _one_error(run, 1, "the native engine is not available")
    _one_error(_hierstan(tmp_path, "fit", "eight_schools"), 1,
               f"the compile cache {tmp_path / 'no-compile-cache'} ($HIERSTAN_CACHE_DIR) is a file")
    run = _hierstan(tmp_path, "fit", "eight_schools", env=_env(tmp_path, cache=Path("/proc/hierstan")))
    _one_error(run, 1, "/proc/hierstan", "lies under /proc", "set HIERSTAN_CACHE_DIR to a writable folder")


class _Family:
    def __init__(self, exc):
        self.exc = exc

    def fit(self, *args, **kwargs):
        raise self.exc


@pytest.mark.parametrize("exc, code", [
    (DataError("bad data"), 2), (UnknownNameError("no such variant"), 2), (cli.UsageError("bad option"), 2),
    (SamplingError("Stan failed"), 1), (EngineUnavailableError("no engine"), 1),
    (CacheError("cache unusable"), 1), (PermissionError(13, "Permission denied", "/x"), 1),
    (KeyboardInterrupt(), 130),
])
def test_one_mapping_from_exception_to_exit_code(monkeypatch, capsys, exc, code):
    monkeypatch.setattr(cli, "get_family", lambda name: _Family(exc))
    assert cli.main(["fit", "eight_schools"]) == code
    err = capsys.readouterr().err
    expected = "hierstan: interrupted" if code == 130 else f"hierstan: error: {exc}"
    assert err == expected + "\n"


def test_a_bug_keeps_its_traceback(monkeypatch):
    monkeypatch.setattr(cli, "get_family", lambda name: _Family(ZeroDivisionError("a bug")))
    with pytest.raises(ZeroDivisionError):
        cli.main(["fit", "eight_schools"])


# interrupted -------------------------------------------------------------------------------


def test_interrupted_write_leaves_the_earlier_file(tmp_path):
    target = tmp_path / "fit.nc"
    target.write_bytes(b"earlier")

    def write(path):
        Path(path).write_bytes(b"half of a new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cli._write(target, write)
    assert target.read_bytes() == b"earlier"
    assert [p.name for p in tmp_path.iterdir()] == ["fit.nc"]
    cli._write(target, lambda path: Path(path).write_bytes(b"new"))
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["fit.nc"]


SLOW_FIT = """
import sys, time
import hierstan.cli as cli

class Slow:
    def fit(self, *args, **kwargs):
        print("fitting", flush=True)
        time.sleep(120)

cli.get_family = lambda name: Slow()
sys.exit(cli.main(sys.argv[1:]))
"""


def test_ctrl_c_exits_130_without_a_traceback(tmp_path):
    out = tmp_path / "fit.nc"
    child = subprocess.Popen([sys.executable, "-c", SLOW_FIT, "fit", "eight_schools", "--out", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                             env=_env(tmp_path))
    try:
        assert child.stdout.readline() == "fitting\n"
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 130
    assert err == "hierstan: interrupted\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["no-compile-cache"]


def _processes_with(marker: str) -> list[str]:
    """Processes whose environment holds ``marker`` (our children inherit it)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "environ").read_bytes():
                    found.append(f"{proc.name}: {(proc / 'cmdline').read_bytes()[:200]!r}")
            except OSError:
                pass
    return found


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["native", "cmdstan"])
def test_ctrl_c_during_a_compile(tmp_path, engine):
    """Ctrl-C as a terminal sends it (to the process group) while the first compile runs: exit 130,
    no traceback, no compiler left running, nothing half-written in the cache or at --out."""
    from hierstan.engines import ENGINES

    if not ENGINES[engine].available():
        pytest.skip(f"the {engine} engine is not available")
    cache = tmp_path / "cache"
    cache.mkdir()
    out = tmp_path / "fit.nc"
    err_file = tmp_path / "stderr.txt"
    with err_file.open("w") as err:
        child = subprocess.Popen([sys.executable, "-m", "hierstan.cli", "fit", "eight_schools", "--engine",
                                  engine, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=err,
                                 cwd=tmp_path, env=_env(tmp_path, cache=cache), start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "compiling" not in err_file.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "compiling" in err_file.read_text(), err_file.read_text()
        time.sleep(2)
        os.killpg(child.pid, signal.SIGINT)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    stderr = err_file.read_text()
    assert child.returncode == 130, stderr
    assert stderr.strip().endswith("hierstan: interrupted") and "Traceback" not in stderr
    time.sleep(1)
    assert _processes_with(f"HIERSTAN_CACHE_DIR={cache}") == []
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["cache", "stderr.txt"]
    # nothing a later fit would trust: no published entry, no build folder left
    left = [p.relative_to(cache) for p in cache.rglob("*") if p.is_file()]
    if engine == "native":
        assert all(p.parts[1] == "locks" for p in left), left
    else:
        assert not [p for p in left if p.name == "manifest.json"], left
