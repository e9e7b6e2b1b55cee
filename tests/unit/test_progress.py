"""Progress of long jobs (issue 33, item 3): one line rewritten in place on a terminal, a few
plain lines in a log (no carriage returns), no per-chain bars of the fits inside a job; and no
ArviZ FutureWarning from the command. No compilation: a fake clock and fake streams."""

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hierstan import many_fits, progress
from hierstan.engines import cmdstan_engine, native_engine
from hierstan.progress import Job


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _job(stream, clock, steps=3):
    return Job("reproduce", steps=steps, stream=stream, clock=clock, tick=None)


def test_in_a_log_a_thousand_fits_are_a_few_plain_lines():
    log, clock = io.StringIO(), Clock()  # a StringIO is not a terminal
    with _job(log, clock) as job:
        with progress.step("eight_schools"):  # fits not known beforehand: counted as they come
            for _ in range(3):
                clock.now += 20
                progress.fit_done()
        with job.step("SBC radon", fits=1000):
            for i in range(1000):
                clock.now += 0.5
                job.advance(failed=int(i % 100 == 0))
        with job.step("K-fold radon"):
            pass
    text = log.getvalue()
    lines = text.splitlines()
    assert "\r" not in text
    # a start and an end line per step, one per tenth of the long step (9), at most one per
    # 3 minutes of it (500 s), and the job's last line
    assert len(lines) <= 2 * 3 + 9 + 3 + 1, text
    assert lines[0] == "reproduce: step 1 of 3, eight_schools: started | 0s elapsed"
    assert lines[1] == ("reproduce: step 1 of 3, eight_schools: done, 3 fits in 1m00s | 1m00s elapsed, "
                        "~2m00s left")
    assert "reproduce: step 2 of 3, SBC radon: started, 1000 fits | 1m00s elapsed, ~2m00s left" in lines
    # within the step: fits done of its total and the failed ones, elapsed and time left
    assert "reproduce: step 2 of 3, SBC radon: 100 of 1000 fits (1 failed) | 1m50s elapsed, ~3m10s left" \
        in lines
    assert ("reproduce: step 2 of 3, SBC radon: done, 1000 fits (10 failed) in 8m20s | 9m20s elapsed, "
            "~4m40s left") in lines
    assert lines[-1] == "reproduce: done, 1003 fits in 9m20s"


def test_in_a_log_a_slow_step_of_unknown_size_says_it_lives_every_few_minutes():
    log, clock = io.StringIO(), Clock()
    with _job(log, clock, steps=1) as job, job.step("thai"):
        for _ in range(10):
            clock.now += 60  # one fit a minute: a line each third fit
            job.advance()
    lines = log.getvalue().splitlines()
    assert [line.split(" | ")[0] for line in lines] == [
        "reproduce: step 1 of 1, thai: started", "reproduce: step 1 of 1, thai: 3 fits",
        "reproduce: step 1 of 1, thai: 6 fits", "reproduce: step 1 of 1, thai: 9 fits",
        "reproduce: step 1 of 1, thai: done, 10 fits in 10m00s"]


def test_on_a_terminal_one_line_is_rewritten_in_place(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    terminal, clock = Terminal(), Clock()
    with _job(terminal, clock, steps=2) as job:
        with job.step("SBC radon", fits=1000):
            for _ in range(1000):
                clock.now += 0.01
                job.advance()
            job.say("hierstan: warning: 3 divergences")  # a line of its own, above the line in place
            shown_before_end = terminal.getvalue()
        with job.step("K-fold radon", fits=22):
            clock.now += 10
            job.advance(2, failed=1)
            during = terminal.getvalue().split("\r")[-1]
    text = terminal.getvalue()
    assert shown_before_end.count("\n") == 1 and "\rhierstan: warning: 3 divergences\n" in shown_before_end
    # step i of N, fits done of the step's total, failed, elapsed and time left
    assert during.rstrip() == ("reproduce: step 2 of 2, K-fold radon: 2 of 22 fits (1 failed) | 20s elapsed, "
                               "~17s left")
    # the last line says the job is done; the warning's is the only other line
    assert text.split("\r")[-1] == "reproduce: done, 1002 fits in 20s\n" and text.count("\n") == 2
    # redrawn at most every LIVE_EVERY seconds of the clock, not once per fit
    assert 50 < text.count("\r") < 200


def test_on_a_narrow_terminal_the_step_name_is_cut_not_the_counts(monkeypatch):
    monkeypatch.setenv("COLUMNS", "85")
    terminal, clock = Terminal(), Clock()
    with _job(terminal, clock, steps=15) as job, job.step("SBC multigroup", fits=100):
        clock.now += 30
        job.advance(37, failed=1)
        shown = terminal.getvalue().split("\r")[-1]
    assert shown == "reproduce: step 1 of 15, S...: 37 of 100 fits (1 failed) | 30s elapsed, ~19m46s left"
    assert len(shown) == 84


def test_cmdstanpy_inside_a_job_logs_its_warnings_on_lines_of_their_own_and_no_chatter():
    terminal, logger = Terminal(), logging.getLogger("cmdstanpy")
    handler, level = logging.StreamHandler(terminal), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)  # as cmdstanpy sets it
    try:
        with Job("reproduce", steps=2, stream=terminal, tick=None) as job, job.step("radon"), \
                cmdstan_engine._cmdstanpy_quiet(False, chatter=False):
            logger.info("Chain [1] start processing")
            logger.warning("Non-fatal error during sampling")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    text = terminal.getvalue()
    assert "start processing" not in text
    # the line in place blanked first, then drawn again below the warning
    assert text.startswith("\rreproduce: step 1 of 2, radon: 0 fits | 0s elapsed")
    assert "   \rNon-fatal error during sampling\n\rreproduce: step 1 of 2" in text


def test_time_left_leaves_out_fits_resumed_from_an_earlier_run():
    log, clock = io.StringIO(), Clock()
    with Job("SBC radon", steps=1, stream=log, clock=clock, tick=None) as job, \
            job.step("SBC radon", fits=100):
        job.advance(50, resumed=True)
        for _ in range(10):
            clock.now += 3
            job.advance()
    lines = log.getvalue().splitlines()
    # one step named as its job: no "step 1 of 1"; 10 fits took 30 s, 40 are left
    assert "SBC radon: 60 of 100 fits | 30s elapsed, ~2m00s left" in lines
    assert lines[-1] == "SBC radon: done, 60 fits in 30s | 30s elapsed"


def test_a_single_fit_draws_bars_on_a_terminal_and_in_a_notebook_a_line_in_a_log_and_nothing_in_a_job(
        monkeypatch):
    def bars_and_text(stream, job=None):
        monkeypatch.setattr(sys, "stderr", stream)
        if job is None:
            with progress.sampling("radon_vi", chains=4, warmup=100, draws=100, show=True) as bars:
                pass
        else:
            with job, progress.sampling("radon_vi", chains=4, warmup=100, draws=100, show=True) as bars:
                pass
        return bars, stream.getvalue()

    monkeypatch.setattr(progress, "in_notebook", lambda: False)
    assert bars_and_text(Terminal()) == (True, "")
    bars, text = bars_and_text(io.StringIO())
    assert not bars and text.splitlines() == [
        "hierstan: sampling radon_vi: 4 chains, 100 warmup + 100 draws each",
        "hierstan: sampled radon_vi in 0s"]
    terminal = Terminal()
    bars, text = bars_and_text(terminal, Job("reproduce", steps=1, stream=terminal, tick=None))
    assert not bars and "sampl" not in text
    monkeypatch.setattr(progress, "in_notebook", lambda: True)  # a Jupyter kernel: stderr is no terminal
    assert bars_and_text(io.StringIO()) == (True, "")
    # progress=False: nothing anywhere
    with progress.sampling("radon_vi", chains=4, warmup=100, draws=100, show=False) as bars:
        assert not bars


def _fit_as_an_engine_does(*, number):
    """A fit's progress exactly as the native engine shows it, asked for progress."""
    lines = [f"Chain [{c}] Iteration: {i} / 20\n" for i in range(1, 21) for c in (1, 2)]
    with progress.sampling(f"fit {number}", chains=2, warmup=10, draws=10, show=True) as bars:
        native_engine._show_progress(iter(lines), chains=2, iterations=20, bars=bars)
    if number == 3:
        raise ValueError("a fit that fails")
    return {"number": number}


def test_fits_inside_many_fits_draw_no_bars_only_its_line(monkeypatch):
    from dask.distributed import Client

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    # outside a job, the same fit draws its chains' bars
    _fit_as_an_engine_does(number=0)
    assert "chain 1" in terminal.getvalue()
    terminal.seek(0)
    terminal.truncate()
    tasks = {f"t{i}": {"number": i} for i in range(5)}
    with Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        records = many_fits.run(_fit_as_an_engine_does, tasks, client=client, what="SBC fake")
    assert [r["status"] for r in records.values()] == ["ok", "ok", "ok", "failed", "ok"]
    text = terminal.getvalue()
    assert "chain 1" not in text and "sampl" not in text
    assert text.rstrip("\n").split("\r")[-1].startswith("SBC fake: 5 of 5 fits (1 failed) | ")


def test_many_fits_in_a_log_writes_plain_lines(monkeypatch):
    from dask.distributed import Client

    # a module that imported ipykernel (nbclient, a notebook test) does not make this a kernel
    monkeypatch.setitem(sys.modules, "ipykernel", sys)

    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    tasks = {f"t{i}": {"number": i} for i in range(5)}
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        many_fits.run(_fit_as_an_engine_does, tasks, client=client, what="SBC fake")
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert lines[0] == "SBC fake: started, 5 fits | 0s elapsed"
    assert lines[-1].startswith("SBC fake: done, 5 fits (1 failed) in ")
    assert len(lines) <= 2 + 4


def test_the_command_shows_no_arviz_future_warning(tmp_path):
    # ArviZ warns once a day, keeping a stamp in the user's cache folder: an empty one here
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONWARNINGS": "default"}
    for command in ([str(Path(sys.executable).with_name("hierstan")), "list"],
                    [sys.executable, "-m", "hierstan", "list"]):
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "eight_schools" in done.stdout
        assert "FutureWarning" not in done.stderr and "ArviZ" not in done.stderr, done.stderr
    # the stamp was written: ArviZ did run its daily warning, and the filter hid it
    assert (tmp_path / "cache" / "arviz" / "daily_warning").exists()


@pytest.mark.parametrize("seconds,text", [(0.4, "0s"), (59.6, "1m00s"), (125, "2m05s"), (3720, "1h02m")])
def test_durations(seconds, text):
    assert progress.duration(seconds) == text
