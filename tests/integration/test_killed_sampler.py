"""A sampler that dies, and a run folder that fills, as a user meets them on the native engine: a
SamplingError that says what happened (the signal, what usually sends it, the memory; or "no
space left" and where), the run folder removed, nothing left running, and a rerun that works."""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import hierstan
from hierstan import SamplingError
from hierstan.engines import NativeEngine, SamplerSettings
from hierstan.errors import ClusterError
from hierstan.programs import Program

# K doubles are allocated (and touched) at start: 0 for an ordinary fit, large to run out of memory
PROGRAM = Program("dying", """
data { int N; vector[N] y; int K; }
transformed data { vector[K] ballast = rep_vector(1, K); }
parameters { real mu; }
model { mu ~ normal(0, 10); y ~ normal(mu, 1); }
""")
DATA = {"N": 5, "y": [0.1, -0.3, 0.8, 1.2, 0.4], "K": 0}
COLUMNS = 8  # Stan's 7 sampler columns and mu


def _sample(draws: int, data: dict = DATA, chains: int = 2) -> None:
    NativeEngine().sample(PROGRAM, data, SamplerSettings(chains=chains, draws=draws, warmup=100, seed=3,
                                                         progress=False))


@pytest.fixture(scope="module", autouse=True)
def compiled():
    NativeEngine().compile(PROGRAM, progress=False)


@pytest.fixture
def run_folders(tmp_path, monkeypatch):
    """Python's temporary folder, where the engine makes each fit's run folder, for this test."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _drivers(parent: int) -> list[int]:
    """Processes whose parent is ``parent`` running a driver's "sample" (zombies too)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                args = (proc / "cmdline").read_bytes().split(b"\0")
            except (OSError, ValueError, IndexError):
                continue
            if ppid == parent and args[1:2] == [b"sample"] and Path(args[0].decode()).name == PROGRAM.name:
                found.append(int(proc.name))
    return found


def _in_thread(target) -> tuple[threading.Thread, dict]:
    outcome = {}

    def run():
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _memtotal() -> float:
    lines = Path("/proc/meminfo").read_text().splitlines()
    return int(next(line for line in lines if line.startswith("MemTotal:")).split()[1]) * 1024


def _estimate(message: str, chains: int, draws: int) -> None:
    """The message's memory estimate is the draws' size it says, beside the machine's memory."""
    found = re.search(rf"its draws \({chains} chains x {draws} draws x (\d+) columns x 8 bytes = "
                      r"([\d.]+) MB\) plus its data \(\d+ bytes\)", message)
    assert found, message
    assert int(found[1]) == COLUMNS
    assert float(found[2]) == pytest.approx(chains * draws * COLUMNS * 8 / 1e6, abs=0.05)
    assert f"this machine has {_memtotal() / 1e9:.1f} GB of memory" in message


def test_a_driver_killed_by_sigkill(run_folders):
    thread, outcome = _in_thread(lambda: _sample(draws=2_000_000))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(run_folders.glob("*/chain-1.bin")):
        time.sleep(0.05)
    drivers = _drivers(os.getpid())
    assert len(drivers) == 1, "the driver did not start sampling"
    time.sleep(0.5)  # a moment into sampling
    os.kill(drivers[0], signal.SIGKILL)
    thread.join(60)
    message = str(outcome.get("error"))
    assert isinstance(outcome.get("error"), SamplingError), message
    assert message.startswith("Stan failed while sampling dying: the sampler was killed by signal 9 "
                              "(SIGKILL): most often the kernel's out-of-memory killer")
    _estimate(message, 2, 2_000_000)
    assert "\nthe last lines of its log:\n" in message
    assert list(run_folders.iterdir()) == []  # the run folder is gone
    assert _drivers(os.getpid()) == []  # nothing left running, nor unreaped


def test_hierstan_fit_killed_from_outside(tmp_path):
    """The command line: a fit whose driver is killed exits 1 with the SamplingError, no traceback."""
    env = {**os.environ, "TMPDIR": str(tmp_path), "HIERSTAN_ENGINE": "native"}
    command = [sys.executable, "-m", "hierstan.cli", "fit", "eight_schools", "--draws", "2000000",
               "--chains", "2"]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                             cwd=tmp_path)
    try:
        deadline = time.monotonic() + 900  # eight_schools may be compiled first
        while time.monotonic() < deadline and not list(tmp_path.glob("hierstan-*/chain-1.bin")):
            time.sleep(0.1)
        driver = [pid for pid in _children(child.pid) if _args(pid)[1:2] == ["sample"]]
        assert len(driver) == 1
        os.kill(driver[0], signal.SIGKILL)
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert re.search(r"hierstan: error: Stan failed while sampling eight_schools\S*: the sampler was killed "
                     r"by signal 9 \(SIGKILL\): most often the kernel's out-of-memory killer", stderr), stderr
    assert "this machine has" in stderr
    assert not list(tmp_path.glob("hierstan-*"))


def _children(parent: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(proc.name))
            except (OSError, ValueError, IndexError):
                pass
    return found


def _args(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


# out of memory -------------------------------------------------------------------------------

BALLAST = 100_000_000  # 800 MB of doubles


def _popen_with(monkeypatch, preexec) -> None:
    """The engine's driver started with ``preexec`` run in the child first."""
    popen = subprocess.Popen

    def started(*args, **kwargs):
        return popen(*args, preexec_fn=preexec, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", started)


def test_a_driver_under_an_address_space_limit(run_folders, monkeypatch):
    """``ulimit -v`` (RLIMIT_AS) of 600 MB: the allocation fails inside Stan, which throws
    std::bad_alloc; the driver exits with its message, not by a signal."""
    import resource

    _popen_with(monkeypatch, lambda: resource.setrlimit(resource.RLIMIT_AS, (600 << 20, 600 << 20)))
    with pytest.raises(SamplingError) as found:
        _sample(draws=100, data={**DATA, "K": BALLAST})
    message = str(found.value)
    assert message.startswith("Stan failed while sampling dying: the sampler ran out of memory: an "
                              "allocation failed (std::bad_alloc)"), message
    assert "ulimit -v" in message and "this machine has" in message
    assert list(run_folders.iterdir()) == []


@pytest.fixture
def memory_cgroup():
    """A cgroup (v1) of 300 MB and no swap, whose processes the kernel's OOM killer kills when
    they use more: skipped where this container cannot make one."""
    group = Path("/sys/fs/cgroup/memory/hierstan-test-oom")
    try:
        group.mkdir(exist_ok=True)  # exists: left by a run that was killed
    except OSError as exc:
        pytest.skip(f"cannot make a memory cgroup here ({exc.strerror})")
    try:
        (group / "memory.limit_in_bytes").write_text(str(300 << 20))
        swap = group / "memory.memsw.limit_in_bytes"
        if swap.exists():
            swap.write_text(str(300 << 20))
        yield group
    finally:
        for _ in range(50):  # the killed process leaves the group as it is reaped
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def test_a_driver_killed_by_the_oom_killer(run_folders, monkeypatch, memory_cgroup):
    """The real thing: the driver in a cgroup of 300 MB allocates 800 MB; the kernel kills it."""
    def enter():
        (memory_cgroup / "cgroup.procs").write_text(str(os.getpid()))

    _popen_with(monkeypatch, enter)
    before = _oom_kills(memory_cgroup)
    with pytest.raises(SamplingError) as found:
        _sample(draws=100, data={**DATA, "K": BALLAST})
    message = str(found.value)
    assert _oom_kills(memory_cgroup) == before + 1, "the kernel's OOM killer did not act"
    assert message.startswith("Stan failed while sampling dying: the sampler was killed by signal 9 "
                              "(SIGKILL): most often the kernel's out-of-memory killer"), message
    assert re.search(r"This fit's data take \d+ bytes \(the size of its draws is unknown", message)
    assert list(run_folders.iterdir()) == []
    assert _drivers(os.getpid()) == []


def _oom_kills(group: Path) -> int:
    for line in (group / "memory.oom_control").read_text().splitlines():
        if line.startswith("oom_kill "):
            return int(line.split()[1])
    pytest.skip("this kernel does not count OOM kills per cgroup")


# a full run folder ---------------------------------------------------------------------------




def test_a_run_folder_that_fills_up(small_disk, monkeypatch):
    """The draws (2 x 5000 x 8 doubles, 640 kB) do not fit in 64 kB: the driver's write fails."""
    monkeypatch.setattr(tempfile, "tempdir", str(small_disk.path))
    with pytest.raises(SamplingError) as found:
        _sample(draws=5000)
    message = str(found.value)
    folder = rf"{small_disk.path}/hierstan-dying-\S+"
    assert re.search(rf"cannot write the draws in the sampler's run folder {folder}: no space left on the "
                     rf"file system of {small_disk.path} \(", message), message
    assert f"Python's temporary folder, {small_disk.path} ($TMPDIR, else /tmp)" in message
    # the size of the draws is told when the driver's list of columns found room before the draws
    assert re.search(r"set TMPDIR to a folder with room( for about 640.0 kB of draws)? before starting "
                     r"Python", message), message
    assert list(small_disk.path.iterdir()) == []
    assert _drivers(os.getpid()) == []
    small_disk.resize("4m")
    _sample(draws=5000)  # room now: the same fit runs
    assert list(small_disk.path.iterdir()) == []


def test_data_that_do_not_fit_in_the_run_folder(small_disk, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(small_disk.path))
    with pytest.raises(SamplingError) as found:
        _sample(draws=100, data={"N": 20_000, "y": [0.5] * 20_000, "K": 0})
    message = str(found.value)
    assert re.search(rf"cannot write the data of dying in the sampler's run folder {small_disk.path}/"
                     rf"hierstan-dying-\S+/data.json: no space left", message), message
    assert "set TMPDIR to a folder with room" in message
    assert list(small_disk.path.iterdir()) == []


# a Dask scheduler that disappears mid-SBC ----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def scheduler(tmp_path):
    """A Dask scheduler and one single-threaded worker, each its own process (as on a cluster)."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    port = address.rsplit(":", 1)[1]
    started = []
    try:
        started.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", port,
             "--dashboard-address", ":0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # its own process group: the nanny, its worker and the worker's drivers end together
        started.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
             "--nworkers", "1", "--no-dashboard", "--death-timeout", "20"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True))
        yield SimpleNamespace(address=address, process=started[0], worker=started[-1])
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.wait()
        if len(started) == 2:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(started[1].pid, signal.SIGKILL)


SBC = {"n_sims": 10, "chains": 1, "draws": 200, "warmup": 200, "seed": 4, "progress": False}


def test_sbc_whose_scheduler_dies_then_resumes(tmp_path, scheduler):
    folder = tmp_path / "sbc"
    thread, outcome = _in_thread(lambda: hierstan.sbc("eight_schools", folder=folder,
                                                      scheduler=scheduler.address, **SBC))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(folder.glob("fits/*.json"))) < 2:
        time.sleep(0.05)
    assert len(list(folder.glob("fits/*.json"))) >= 2, "no fit finished in time"
    scheduler.process.kill()
    thread.join(120)
    assert not thread.is_alive(), "sbc did not return after its scheduler died"
    error = outcome.get("error")
    assert isinstance(error, ClusterError), repr(error)
    kept = {p.name: p.read_text() for p in (folder / "fits").iterdir()}
    message = str(error)
    assert message.startswith(f"lost the connection to the Dask scheduler at {scheduler.address} with "
                              f"{len(kept)} of 10 fits done"), message
    assert f"the records of the {len(kept)} done are kept in {folder / 'fits'}" in message
    assert f"run it again with the same folder (--out) and settings, on a running cluster, and only the " \
           f"other {10 - len(kept)} run" in message
    assert 2 <= len(kept) < 10
    # the fits the lost scheduler took along are not recorded as failed: they are simply not done
    assert all(json.loads(text)["status"] != "failed" for text in kept.values())
    assert all(not name.startswith(".") for name in kept)

    result = hierstan.sbc("eight_schools", folder=folder, workers=1, **SBC)  # the same folder, locally
    assert sorted(result.fits["key"]) == [f"sim_{i:05d}" for i in range(10)]
    assert not result.fits["status"].eq("failed").any()
    records = {p.name: p.read_text() for p in (folder / "fits").iterdir()}
    assert len(records) == 10 and all(records[name] == text for name, text in kept.items())
    assert {json.loads(text)["key"] for text in records.values()} == {f"sim_{i:05d}" for i in range(10)}


# CmdStan -------------------------------------------------------------------------------------


def test_cmdstan_killed_by_sigkill():
    from hierstan.engines import ENGINES

    if not ENGINES["cmdstan"].available():
        pytest.skip("CmdStan is not installed")
    thread, outcome = _in_thread(lambda: hierstan.eight_schools.fit(
        engine="cmdstan", chains=1, draws=3_000_000, warmup=100, seed=1, progress=False))
    deadline = time.monotonic() + 900  # CmdStan may compile eight_schools first
    found = []
    while time.monotonic() < deadline and not found:
        found = [pid for pid in _children(os.getpid()) if "method=sample" in _args(pid)]
        time.sleep(0.1)
    assert found, "CmdStan did not start"
    time.sleep(1)
    os.kill(found[0], signal.SIGKILL)
    thread.join(120)
    message = str(outcome.get("error"))
    assert isinstance(outcome.get("error"), SamplingError), message
    assert re.match(r"CmdStan failed while sampling eight_schools\S*: CmdStan was killed by signal 9 "
                    r"\(SIGKILL\): most often the kernel's out-of-memory killer", message), message
    assert "For comparison, this machine has" in message
    assert [pid for pid in _children(os.getpid()) if "method=sample" in _args(pid)] == []
