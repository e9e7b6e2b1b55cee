"""The bare cost of one log-density gradient of each benchmark program, to set beside the
engines' µs/gradient from `hierstan bench` (which include the sampler, output and process), and
of the programs rewritten for cheaper gradients against the texts they replaced.

Usage: python scripts/gradient_cost.py [--evaluations 20000] [--reps 5] [--instructions]
                                       [--out results/bench]

The native driver evaluates the gradient at Stan's random initial point in a loop (no sampler,
no output); each program is timed --reps times, alternating programs, and the median reported.
A program with a reference text tests/reference/stan/<program>_before.stan (what it was before
it was rewritten) is timed in its old form too, in the same rounds. --instructions also counts
the instructions of one gradient under valgrind's callgrind (the difference between runs of
2000 and 200 evaluations, over 1800): noise-free, unlike the times on a shared machine.
Writes gradient_cost.md; with benchmark.csv from `hierstan bench` in --out, it sets nutpie's
all-in µs/gradient beside the bare cost and gives each engine's ratio to it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from stanio import write_stan_json

from hierstan.bench import run
from hierstan.engines import native_build
from hierstan.engines.native_engine import gradient_cost
from hierstan.models import get_family
from hierstan.programs import Program, load_program

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "reference" / "stan"
# rewritten programs outside the benchmark's models: (model label, family, prepare arguments)
EXTRA = {"exam_bugs": ("exam", {"variant": "bugs"})}


def _instructions(program: Program, data: dict, low: int = 200, high: int = 2000) -> float:
    """Instructions per gradient under callgrind: (count(high) - count(low)) / (high - low)."""
    exe, _ = native_build.executable(program)
    counts = []
    with tempfile.TemporaryDirectory() as folder:
        data_file = Path(folder) / "data.json"
        write_stan_json(str(data_file), data)
        for evaluations in (low, high):
            done = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/out",
                                   str(exe), "gradient", str(data_file), "1", str(evaluations)],
                                  capture_output=True, text=True, check=True)
            counts.append(int(re.search(r"Collected : (\d+)", done.stderr).group(1)))
    return (counts[1] - counts[0]) / (high - low)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evaluations", type=int, default=20000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--instructions", action="store_true", help="count instructions with callgrind")
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    args = parser.parse_args()
    if args.instructions and not shutil.which("valgrind"):
        parser.error("--instructions needs valgrind")
    # pointwise output is generated quantities: it does not enter the gradient
    cases: dict[str, tuple[str, dict]] = {}  # model label: (program name, data)
    for model in run.MODELS:
        prepared = run.stan_data(run.Spec(model=model, engine="native"))
        cases[model] = (prepared.program, prepared.data)
    for label, (family, arguments) in EXTRA.items():
        prepared = get_family(family).prepare(None, **arguments)
        cases[label] = (prepared.program, prepared.data)
    # (model, form): program; form "before" where a reference text exists
    programs: dict[tuple[str, str], Program] = {}
    for model, (name, _) in cases.items():
        reference = REFERENCE / f"{name}_before.stan"
        if reference.exists():
            programs[model, "before"] = Program(name, reference.read_text())
        programs[model, "after"] = load_program(name)
    for program in programs.values():  # compile first, so no round times a build
        native_build.executable(program)
    times: dict[tuple[str, str], list[float]] = {key: [] for key in programs}
    for _ in range(args.reps):  # alternate the programs so machine noise spreads over all
        for (model, form), program in programs.items():
            times[model, form].append(gradient_cost(program, cases[model][1], evaluations=args.evaluations))
    rows = []
    for model, (name, data) in cases.items():
        before = times.get((model, "before"))
        row = {"model": model, "program": name,
               "stanc": " ".join(programs[model, "after"].stanc_options) or "-",
               "before_us": float(np.median(before)) if before else np.nan,
               "after_us": float(np.median(times[model, "after"]))}
        if args.instructions:
            row["before_instructions"] = (_instructions(programs[model, "before"], data)
                                          if (model, "before") in programs else np.nan)
            row["after_instructions"] = _instructions(programs[model, "after"], data)
        rows.append(row)
    table = pd.DataFrame(rows)
    bench = args.out / "benchmark.csv"
    medians = None
    if bench.exists():
        measured = pd.read_csv(bench).dropna(subset=["us_per_gradient"])
        medians = measured.groupby(["model", "engine"])["us_per_gradient"].median().unstack()
        if "nutpie" in medians:
            table["nutpie_all_in_us"] = table["model"].map(medians["nutpie"])
            table["after_over_nutpie"] = table["after_us"] / table["nutpie_all_in_us"]
    lines = ["# Bare log-density gradient cost", "",
             f"`python scripts/gradient_cost.py --evaluations {args.evaluations} --reps {args.reps}"
             f"{' --instructions' if args.instructions else ''}`: median over reps of the mean time "
             "of one gradient (µs), evaluated in a loop by the native driver at Stan's random initial "
             "point, programs alternating within each rep. `after`: the program as shipped (compiled "
             "with the stanc options its `// hierstan-stanc:` line asks for, `stanc`); `before`: the "
             "text it replaced (tests/reference/stan/<program>_before.stan, stanc's default --O0), "
             "where it was rewritten for cheaper gradients."
             + (" `*_instructions`: instructions per gradient under valgrind's callgrind." if
                args.instructions else ""), "",
             table.to_markdown(index=False, floatfmt=".4g"), ""]
    if medians is not None:
        lines += ["`nutpie_all_in_us`: nutpie's µs/gradient while sampling, everything included (median "
                  "over the repetitions in `benchmark.csv`, from an earlier `hierstan bench` run, not "
                  "measured here)."]
        bare = table.set_index("model")["after_us"]
        ratio = medians.div(bare, axis=0).dropna(how="all")
        lines += ["", "Each engine's µs/gradient in `benchmark.csv` (sampling, all included; measured "
                  "with the programs as they were then) over the bare cost of the program as shipped "
                  "now:", "", ratio.reset_index().to_markdown(index=False, floatfmt=".3g"), ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gradient_cost.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
