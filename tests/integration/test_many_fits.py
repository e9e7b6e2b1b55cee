"""Many fits on Dask: a 2-worker LocalCluster loses no task and counts none twice when a worker
is killed; failures are recorded; runs resume; Ctrl-C stops cleanly; K-fold's elpd agrees with
quadrature."""

import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
from reference.eight_schools_cv import held_out_log_density

import hierstan
from hierstan import many_fits
from hierstan.errors import HierstanError

# the workers cannot import this test module: send its jobs by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _job(*, key, marks, seconds, fail=False):
    """Mark that it started (a file per execution), take a while, then answer or raise. On the
    worker named in ``marks/victim`` it never ends: that worker is killed in its first task."""
    Path(marks, f"{key}-{os.getpid()}-{uuid.uuid4().hex}").touch()
    victim = Path(marks, "victim")
    if victim.exists() and victim.read_text() == str(os.getpid()):
        time.sleep(600)
    time.sleep(seconds)
    if fail:
        raise ValueError(f"{key} was told to fail")
    return {"value": key.upper(), "pid": os.getpid()}


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as opened:
        yield opened


def test_a_killed_worker_loses_nothing_and_counts_nothing_twice(client, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    tasks = {f"t{i:02d}": {"key": f"t{i:02d}", "marks": str(marks), "seconds": 1.0} for i in range(12)}
    pids = sorted(client.run(os.getpid).values())
    (marks / "victim").write_text(str(pids[0]))  # its first task hangs until the kill

    def kill_one():  # once the victim is inside its first task
        deadline = time.time() + 60
        while time.time() < deadline and not _started_on(marks, pids[0]):
            time.sleep(0.05)
        time.sleep(0.4)
        os.kill(pids[0], signal.SIGKILL)

    killer = threading.Thread(target=kill_one)
    killer.start()
    records = many_fits.run(_job, tasks, folder=tmp_path / "run", client=client, progress=False)
    killer.join()
    assert list(records) == list(tasks)
    assert all(r["status"] == "ok" and r["value"] == key.upper() for key, r in records.items())
    written = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "run" / "fits").glob("*.json")}
    assert written == records  # one record per task, none twice, as returned
    # every task the killed worker started ran again on another worker, which wrote its record
    victims = _started_on(marks, pids[0])
    assert len(victims) == 1, victims
    for key in victims:
        assert records[key]["pid"] != pids[0], (key, records[key])
        assert str(records[key]["pid"]) in _started(marks)[key], (key, records[key])
    assert {key for key, _ in _runs(marks)} == set(tasks)
    assert len(_runs(marks)) == len(tasks) + 1  # the killed task ran twice, no other


def _runs(marks: Path) -> list[tuple[str, str]]:
    """(task, pid) of every execution that started."""
    return [tuple(p.name.split("-")[:2]) for p in marks.iterdir() if p.name != "victim"]


def _started(marks: Path) -> dict[str, set[str]]:
    """The pids each task started on."""
    found: dict[str, set[str]] = {}
    for key, pid in _runs(marks):
        found.setdefault(key, set()).add(pid)
    return found


def _started_on(marks: Path, pid: int) -> set[str]:
    return {key for key, started in _started(marks).items() if str(pid) in started}


def test_a_failing_task_is_recorded_and_a_rerun_does_only_what_is_missing(client, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    tasks = {f"t{i}": {"key": f"t{i}", "marks": str(marks), "seconds": 0.05, "fail": i == 3}
             for i in range(6)}
    folder = tmp_path / "run"
    records = many_fits.run(_job, tasks, folder=folder, settings={"n": 1}, client=client, progress=False)
    assert records["t3"]["status"] == "failed" and "t3 was told to fail" in records["t3"]["reason"]
    assert all(r["status"] == "ok" for k, r in records.items() if k != "t3")
    assert len(list(marks.iterdir())) == 6
    # a resumed run: the five done are read back, the failed one is run again
    tasks["t3"]["fail"] = False
    again = many_fits.run(_job, tasks, folder=folder, settings={"n": 1}, client=client, progress=False)
    assert again["t3"]["status"] == "ok" and again["t0"] == records["t0"]
    assert len(list(marks.iterdir())) == 7
    with pytest.raises(HierstanError, match="other settings"):
        many_fits.run(_job, tasks, folder=folder, settings={"n": 2}, client=client, progress=False)


def test_kfold_leave_one_school_out_agrees_with_quadrature(client):
    data = hierstan.eight_schools.load_data()
    result = hierstan.kfold("eight_schools", K=8, by="school", client=client, progress=False)
    expected = [held_out_log_density(data["y"], data["sigma"], j) for j in range(8)]
    # each school its own fold: its elpd is the integral the quadrature does (Monte Carlo error
    # of a mean over 4000 draws of a new school's effect: ~0.02)
    assert np.allclose(result.pointwise.values, expected, atol=0.05)
    assert abs(result.elpd_kfold - sum(expected)) < 0.15
    assert result.K == 8 and sorted(result.folds) == list(range(8))


def test_kfold_of_a_fit_refits_its_variant_and_refuses_other_data(client):
    fit = hierstan.radon.fit(variant="pooled", chains=2, draws=200, warmup=200, seed=1, progress=False)
    result = hierstan.kfold(fit, K=3, client=client, chains=2, draws=200, warmup=200, progress=False)
    assert np.isfinite(result.pointwise.values).all() and result.pointwise.size == 919
    other = hierstan.radon.load_data()
    other["log_radon"] = other["log_radon"] + 1
    with pytest.raises(hierstan.DataError, match="not the data the fit was made from"):
        hierstan.kfold(fit, other, K=3, client=client)


def test_ctrl_c_stops_a_kfold_run_cleanly_and_it_resumes(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "hierstan.cli", "kfold", "eight_schools", "-K", "8", "--by", "school",
               "--draws", "20000", "--workers", "2", "--out", str(out)]
    # as from a terminal: a shell's background job (CI run with `&`) passes SIGINT on ignored, and
    # Python then keeps ignoring it
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 240
    while time.time() < deadline and not list((out / "fits").glob("*.json")):
        time.sleep(0.2)
    assert list((out / "fits").glob("*.json")), "no fit finished in time"
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    time.sleep(1)
    listed = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-g", str(process.pid)], capture_output=True,
                            text=True).stdout.splitlines()
    # an exited process whose parent exited first waits for PID 1 to reap it, which a container's
    # init may never do: it runs nothing and holds nothing, so only live processes count
    left = [line for line in listed if line.split()[1][0] != "Z"]
    assert not left, f"processes left behind: {left}"
    files = list((out / "fits").iterdir())
    assert all(p.suffix == ".json" for p in files)  # no partial file
    done = {json.loads(p.read_text())["key"] for p in files}
    assert 1 <= len(done) < 9
    # the same command again runs only the folds not yet written, and finishes
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "elpd_kfold" in again.stdout
    records = [json.loads(p.read_text()) for p in (out / "fits").glob("*.json")]
    assert len(records) == 9 and {r["key"] for r in records} >= done


def test_sbc_detects_a_prior_scale_off_by_two_and_passes_the_right_one(client):
    """The data of the first run have mu drawn with twice the scale the model assumes (10, not
    5): mu's ranks pile up at both ends (a third of them in the outer tenth, by quadrature of the
    exact posterior), and SBC must say so. Quadrature puts the power of 200 simulations near 1
    (100 give 0.8-0.95: this seed's 100 did not reach Holm's 5%). The second run simulates from the
    model's own prior and must find nothing (fixed seeds: the outcome is reproducible)."""
    family = hierstan.eight_schools
    wrong = functools.partial(family.simulate_prior, variant="hierarchical", priors={"mu_scale": 10.0})
    result = hierstan.sbc("eight_schools", n_sims=200, simulator=wrong, seed=3, client=client, progress=False)
    tests = result.tests.set_index("parameter")
    assert not tests.loc["mu", "uniform"] and tests.loc["mu", "outside_band"]
    ranks = result.ranks[result.ranks["parameter"] == "mu"]["rank"]
    assert ((ranks < 5) | (ranks > 94)).mean() > 0.2  # uniform ranks: 0.1
    right = hierstan.sbc("eight_schools", n_sims=100, seed=3, client=client, progress=False)
    assert right.tests["uniform"].all(), right.summary()
    assert len(right.fits) == 100 and set(right.fits["status"]) <= {"ok", "divergent"}
