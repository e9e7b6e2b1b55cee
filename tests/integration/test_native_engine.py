"""The native engine's behaviour around a fit: interrupts, a dying caller, killed and damaged
builds, Stan's error messages, event loops. Draws against CmdStan: test_cmdstan.py."""

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

import hierstan
from hierstan import progress
from hierstan.cache import cache_dir, cache_key
from hierstan.engines import NativeEngine, SamplerSettings, native_build
from hierstan.engines.native_engine import log_density
from hierstan.programs import Program

# n copies of a standard normal term: the gradient costs O(n), so a large n makes a slow fit
SLOW = Program("slow", """
data { int<lower=1> n; real<lower=0> s; }
parameters { real x; }
model { for (i in 1:n) x ~ normal(0, s); }
""")
QUICK = SamplerSettings(chains=2, draws=200, warmup=200, seed=4, progress=False)

CHILD = """
import signal
import sys
# as in an interactive session: a shell that started us in the background may have set SIGINT
# to be ignored, which Python then keeps
signal.signal(signal.SIGINT, signal.default_int_handler)
from hierstan.engines import NativeEngine, SamplerSettings
from hierstan.programs import Program
program = Program("slow", sys.argv[1])
settings = SamplerSettings(chains=2, draws=100000, warmup=100, seed=1, progress=False)
try:
    NativeEngine().sample(program, {"n": 200000, "s": 1.0}, settings)
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
    sys.exit(130)
"""


@pytest.fixture(scope="module")
def built():
    return native_build.executable(SLOW)[0]


def _drivers(folder: Path) -> list[int]:
    """Processes whose command line mentions ``folder`` (the drivers started for it)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and proc.name != str(os.getpid()):
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(folder) in cmdline and " sample " in cmdline:
                found.append(int(proc.name))
    return found


def _start_slow_fit(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    """A child Python in a slow fit, returned once its driver is sampling."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, SLOW.code], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = list(tmp_path.glob("hierstan-slow-*/variables.tsv"))
        if runs and _drivers(tmp_path):
            return child, runs[0].parent
        assert child.poll() is None, child.communicate()
        time.sleep(0.1)
    child.kill()
    pytest.fail("the driver did not start within 120 s")


def _gone(run_dir: Path, within: float = 10.0) -> bool:
    # the run folder's name is unique (mkdtemp): drivers of other runs do not count
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not _drivers(run_dir) and not run_dir.exists():
            return True
        time.sleep(0.05)
    return False


def _kill(child: subprocess.Popen, run_dir: Path) -> None:
    """Whatever a failed test left running: the child and its driver."""
    for pid in _drivers(run_dir):
        os.kill(pid, signal.SIGKILL)
    if child.poll() is None:
        child.kill()
        child.wait()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_the_driver_and_raises_keyboard_interrupt(built, tmp_path):
    child, run_dir = _start_slow_fit(tmp_path)
    try:
        # as Jupyter's interrupt does: SIGINT to the Python process only, not to the driver
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
        took = time.monotonic() - sent
        assert child.returncode == 130 and "KeyboardInterrupt" in out, err
        assert _gone(run_dir), "a driver or the run folder was left behind"
        assert took < 10, f"stopping took {took:.1f} s"
    finally:
        _kill(child, run_dir)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_to_the_caller_leaves_no_orphan(built, tmp_path):
    child, run_dir = _start_slow_fit(tmp_path)
    try:
        child.send_signal(signal.SIGTERM)  # Python dies without running any cleanup of its own
        child.communicate(timeout=30)
        assert child.returncode == -signal.SIGTERM
        # the driver sees its stdin close, deletes its folder (data and partial draws) and exits
        assert _gone(run_dir), "the driver outlived its caller or left files behind"
    finally:
        _kill(child, run_dir)


def test_killed_compile_leaves_nothing_trusted_and_damage_is_rebuilt(built):
    # a program text new to the cache (the driver object is shared and already built)
    program = Program("slow", SLOW.code + f"// {uuid.uuid4()}\n")
    entry = cache_dir() / "native" / cache_key(program.code, native_build.toolchain().key())
    script = ("import sys; from hierstan.engines import native_build; from hierstan.programs import "
              "Program; native_build.executable(Program('slow', sys.argv[1]))")
    compiling = subprocess.Popen([sys.executable, "-c", script, program.code], start_new_session=True)
    building = f".{entry.name}-*"
    deadline = time.monotonic() + 300
    while not list(entry.parent.glob(f"{building}/slow.stan")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2)  # stanc has run; g++ is compiling
    os.killpg(compiling.pid, signal.SIGKILL)  # the caller and its compiler, mid-build
    compiling.wait()
    assert not entry.exists() and list(entry.parent.glob(building))
    # the next fit builds it from scratch, sweeps the killed build's folder, and samples
    raw = NativeEngine().sample(program, {"n": 1, "s": 1.0}, QUICK)
    assert raw.compiled_now and raw.variables["x"].shape == (2, 200)
    assert not list(entry.parent.glob(building))
    # damage the executable: detected, rebuilt, the same draws
    exe = entry / "slow"
    exe.write_bytes(exe.read_bytes()[:1000])
    again = NativeEngine().sample(program, {"n": 1, "s": 1.0}, QUICK)
    assert again.compiled_now
    np.testing.assert_array_equal(again.variables["x"], raw.variables["x"])
    assert not NativeEngine().sample(program, {"n": 1, "s": 1.0}, QUICK).compiled_now
    shutil.rmtree(entry)


def test_stan_errors_come_back_in_stans_words(built):
    with pytest.raises(hierstan.SamplingError, match=r"s is -1, but must be greater than or equal to 0"):
        NativeEngine().sample(SLOW, {"n": 1, "s": -1.0}, QUICK)
    with pytest.raises(hierstan.SamplingError, match=r"variable does not exist.*n"):
        NativeEngine().sample(SLOW, {"s": 1.0}, QUICK)
    failing = Program("never", "parameters { real x; } model { reject(\"no value of x works\"); }")
    with pytest.raises(hierstan.SamplingError, match=r"(?s)(?=.*no value of x works)(?=.*Initialization)"):
        NativeEngine().sample(failing, {}, QUICK)


def test_rejections_are_counted_not_printed(capfd, monkeypatch):
    rejecting = Program("rejecting", """
parameters { real x; }
model {
  if (x > 0) reject("x must not be positive, got ", x);
  x ~ normal(0, 1);
}
""")
    raw = NativeEngine().sample(rejecting, {}, QUICK)
    assert raw.variables["x"].max() <= 0
    assert raw.rejections > 10
    assert capfd.readouterr() == ("", "")
    shown = SamplerSettings(**{**QUICK.__dict__, "progress": True})
    # stderr is a log here: a line at the start and end of sampling, no bars
    in_a_log = NativeEngine().sample(rejecting, {}, shown)
    err = capfd.readouterr().err
    assert err.splitlines()[0] == "hierstan: sampling rejecting: 2 chains, 200 warmup + 200 draws each"
    assert len(err.splitlines()) == 2 and "\r" not in err
    monkeypatch.setattr(progress, "in_place", lambda stream: True)  # as on a terminal: bars
    with_bars = NativeEngine().sample(rejecting, {}, shown)
    err = capfd.readouterr().err
    assert "chain 2" in err and "100%" in err and "Informational Message" not in err
    for draws in (with_bars, in_a_log):
        np.testing.assert_array_equal(draws.variables["x"], raw.variables["x"])


def test_threads_do_not_change_the_draws(built):
    one = NativeEngine().sample(SLOW, {"n": 3, "s": 2.0}, SamplerSettings(**{**QUICK.__dict__, "threads": 1}))
    two = NativeEngine().sample(SLOW, {"n": 3, "s": 2.0}, SamplerSettings(**{**QUICK.__dict__, "threads": 2}))
    np.testing.assert_array_equal(one.variables["x"], two.variables["x"])
    # x ~ normal(0, 2) three times: the posterior is normal(0, 2 / sqrt(3))
    assert abs(one.variables["x"].std() - 2 / np.sqrt(3)) < 0.2


def test_log_density_is_stans_up_to_a_constant(built):
    points = [{"x": 0.0}, {"x": 1.5}, {"x": -2.0}]
    values = log_density(SLOW, {"n": 4, "s": 2.0}, points)
    # four normal(0, 2) terms without constants: -4 x^2 / 8
    np.testing.assert_allclose(values - values[0], [0.0, -0.5 * 1.5**2, -0.5 * 4.0], rtol=1e-12)


def test_fit_inside_a_running_event_loop_in_a_fresh_process():
    # what Jupyter does: fit from code running inside an event loop, in a process that has not
    # fitted before (PyStan's workers crashed exactly there)
    script = ("import asyncio, hierstan\n"
              "async def cell():\n"
              "    return hierstan.eight_schools.fit(chains=2, draws=100, warmup=100, seed=2, "
              "progress=False, engine='native')\n"
              "print(asyncio.run(cell()).posterior.sizes['draw'])\n")
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "100"


def test_notebook_fits_and_shows_progress_bars():
    # a real Jupyter kernel in a fresh process: the kernel runs an event loop, and the
    # progress bars must reach the notebook's output
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("import hierstan\n"
                                  "hierstan.available_engines()  # cmdstanpy imports tqdm.auto\n"
                                  "idata = hierstan.eight_schools.fit(chains=2, draws=200, warmup=200, "
                                  "seed=3, engine='native')"),
        nbformat.v4.new_code_cell("print(idata.posterior.sizes['draw'], idata.posterior.attrs['engine'])"),
    ]
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3").execute()
    fitted, printed = notebook.cells
    shown = "".join(str(output.get("text", "")) + str(output.get("data", ""))
                    for output in fitted.outputs)
    assert "chain 2" in shown and "100%" in shown, fitted.outputs
    assert "Warning: IProgress" not in shown  # text bars need no widgets
    assert not [o for o in fitted.outputs if o.output_type == "error"]
    assert printed.outputs[0]["text"].strip() == "200 native"
