"""Where the time of one fit goes, from ``fit()`` to the returned InferenceData (issue 30, item 4).

Usage: python scripts/fixed_cost.py [--runs 7] [--json FILE] [--before FILE] [--out results/bench]

Eight schools and the math test, native engine, 4 chains x 1000 draws + 1000 warmup, seed 1,
progress=False, the default options; one warm-up fit per model (cached compile), then ``--runs``
timed fits whose medians are reported. The fits are the real ``family.fit`` calls: each stage is
timed by wrapping the function ``fit`` calls for it (time.perf_counter), nothing is re-implemented.
The driver's own fixed cost (process start, TBB, reading the data, building the model, the
chains' initialisation) is timed apart, as a run of 0 warmup and 1 draw per chain, and subtracted
from the driver's wall time to give its sampling. ``--json`` saves the medians; ``--before`` adds
the medians of an earlier run (e.g. of an older commit) as a column of the table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import warnings
from collections import defaultdict
from contextlib import ExitStack, contextmanager
from pathlib import Path

import hierstan
from hierstan import fitting
from hierstan.engines import SamplerSettings, native_build, native_engine
from hierstan.models import eight_schools, mathtest
from hierstan.programs import load_program

MODELS = {"eight_schools": eight_schools, "mathtest": mathtest}
FIT = dict(engine="native", chains=4, draws=1000, warmup=1000, seed=1, progress=False)
# stage -> (module, attribute) of the function fit calls for it
WRAPPED = {
    "pilot (auto parameterization)": "resolve",  # inside prepare, in the model's module
    "cache lookup (executable)": (native_build, "executable"),
    "write data file": (native_engine, "write_stan_json"),
    "driver (wall)": (native_engine, "_run_driver"),
    "read draws": (native_engine, "_read_draws"),
    "read adaptation, warmup, log": [(native_engine, "_read_adaptation"),
                                     (native_engine, "_read_warmup"), (native_engine, "_rejections")],
    "InferenceData build": (fitting, "to_inference_data"),
    "pointwise (log_lik, y_rep)": (fitting, "add_pointwise"),
    "diagnostics": (fitting, "diagnose"),
}
PREPARE = "prepare (data checks, Stan data, pilot)"
OTHER = "other (argument checks, program, temp dir, ...)"
ORDER = [PREPARE, "pilot (auto parameterization)", "cache lookup (executable)", "write data file",
         "driver (wall)", "driver start-up (estimated)", "driver sampling", "read draws",
         "read adaptation, warmup, log", "InferenceData build", "pointwise (log_lik, y_rep)",
         "diagnostics", OTHER, "total fit()", "not sampling (total - driver sampling)",
         "warmup seconds (mean chain)", "RawDraws.seconds['sample']"]
NESTED = ("pilot", "driver start-up", "driver sampling")  # shown indented: parts of the row above


@contextmanager
def patched(target, name: str, stage: str, times: dict):
    original = getattr(target, name)

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            times[stage] += time.perf_counter() - start

    setattr(target, name, timed)
    try:
        yield
    finally:
        setattr(target, name, original)


def one_fit(module) -> dict[str, float]:
    times: dict[str, float] = defaultdict(float)
    family = module.family
    with ExitStack() as stack:
        prepare = family.prepare
        stack.enter_context(patched(module, "resolve", "pilot (auto parameterization)", times))
        for stage, where in WRAPPED.items():
            for target, name in ([] if where == "resolve" else
                                 where if isinstance(where, list) else [where]):
                stack.enter_context(patched(target, name, stage, times))

        def timed_prepare(*args, **kwargs):
            start = time.perf_counter()
            try:
                return prepare(*args, **kwargs)
            finally:
                times[PREPARE] += time.perf_counter() - start

        object.__setattr__(family, "prepare", timed_prepare)
        stack.callback(object.__setattr__, family, "prepare", prepare)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            idata = module.fit(**FIT)
            times["total fit()"] = time.perf_counter() - start
    attrs = idata.sample_stats.attrs
    times["warmup seconds (mean chain)"] = float(attrs["warmup_seconds"].mean()) \
        if "warmup_seconds" in attrs else float("nan")
    times["RawDraws.seconds['sample']"] = float(idata.posterior.attrs["sampling_seconds"])
    return dict(times)


def driver_startup(module) -> float:
    """The driver's wall time for 0 warmup iterations and 1 draw per chain: everything it does
    besides sampling (process start, data, model, initialisation, output files)."""
    prepared = module.stan_data()
    program = load_program(prepared.program)
    exe, _ = native_build.executable(program)
    settings = SamplerSettings(chains=FIT["chains"], draws=1, warmup=0, seed=FIT["seed"],
                               adapt_delta=prepared.adapt_delta, progress=False)
    with tempfile.TemporaryDirectory() as folder:
        native_engine.write_stan_json(str(Path(folder) / "data.json"), prepared.data)
        start = time.perf_counter()
        native_engine._run_driver(exe, Path(folder), settings, program.name)
        return time.perf_counter() - start


def measure(module, runs: int) -> dict[str, float]:
    one_fit(module)  # compile if needed, warm the caches
    fits = [one_fit(module) for _ in range(runs)]
    startup = statistics.median(driver_startup(module) for _ in range(runs))
    medians = {stage: statistics.median(fit.get(stage, 0.0) for fit in fits)
               for stage in {k for fit in fits for k in fit}}
    medians["driver start-up (estimated)"] = startup
    sampling = [fit["driver (wall)"] - startup for fit in fits]
    medians["driver sampling"] = statistics.median(sampling)
    medians["not sampling (total - driver sampling)"] = statistics.median(
        fit["total fit()"] - s for fit, s in zip(fits, sampling))
    timed = [PREPARE, "cache lookup (executable)", "write data file",
             "driver (wall)", "read draws", "read adaptation, warmup, log", "InferenceData build",
             "pointwise (log_lik, y_rep)", "diagnostics"]
    medians[OTHER] = statistics.median(fit["total fit()"] - sum(fit.get(s, 0.0) for s in timed)
                                         for fit in fits)
    return medians


def table(now: dict, before: dict | None) -> str:
    models = list(now)
    header = ["stage (median seconds)"]
    for m in models:
        header += [f"{m} before", f"{m} after"] if before else [m]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for stage in ORDER:
        cells = []
        for m in models:
            if before:
                cells.append(_cell(before[m].get(stage)))
            cells.append(_cell(now[m].get(stage)))
        name = f"&nbsp;&nbsp;{stage}" if stage.startswith(NESTED) else stage
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value) -> str:
    return "" if value is None else f"{value:.3f}"


def _code() -> str:
    """The commit measured (git describe of the checkout hierstan was imported from)."""
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                              text=True, check=True, cwd=Path(hierstan.__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"hierstan {hierstan.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", type=Path, help="save the medians here")
    parser.add_argument("--before", type=Path, help="medians of an earlier run (--json), shown beside")
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    args = parser.parse_args()
    load = [os.getloadavg()[0]]
    now = {name: measure(module, args.runs) for name, module in MODELS.items()}
    load.append(os.getloadavg()[0])
    now["run"] = {"code": _code(), "load": load, "runs": args.runs}
    if args.json:
        args.json.write_text(json.dumps(now, indent=1))
    before = json.loads(args.before.read_text()) if args.before else None
    runs = [("before", before["run"]), ("after", now["run"])] if before else [("", now["run"])]
    measured = "; ".join(f"{label + ': ' if label else ''}{run['code']}, load average "
                         f"{run['load'][0]:.2f} at the start and {run['load'][1]:.2f} at the end"
                         for label, run in runs)
    text = "\n".join([
        "# Fixed cost per fit",
        "",
        f"`python scripts/fixed_cost.py --runs {args.runs}"
        + (" --before <medians of the earlier code, from its --json>`" if before else "`")
        + ": eight schools and the math test (hierstan.eight_schools.fit, hierstan.mathtest.fit), "
        "native engine, 4 chains x 1000 draws + 1000 warmup, seed 1, progress=False, default "
        f"options; one warm-up fit per model (cached compile), then medians of {args.runs} fits, "
        "in seconds. Stages are timed by wrapping the functions `fit` calls (time.perf_counter); "
        "the driver's start-up is a separate run of 0 warmup and 1 draw per chain, subtracted "
        "from its wall time to give its sampling. "
        f"Measured: {measured}. The machine has {os.cpu_count()} cores shared with other "
        "developers' compiles and tests: the timings are noisy, compare medians only.",
        "",
        table({name: now[name] for name in MODELS}, before),
        "",
    ])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fixed_cost.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
