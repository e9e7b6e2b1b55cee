"""The bare cost of one log-density gradient of each benchmark program, to set beside the
engines' µs/gradient from `hierstan bench` (which include the sampler, output and process).

Usage: python scripts/gradient_cost.py [--evaluations 20000] [--reps 5] [--out results/bench]

The native driver evaluates the gradient at Stan's random initial point in a loop (no sampler,
no output); each program is timed --reps times, alternating programs, and the median reported.
Writes gradient_cost.md and, when benchmark.csv from `hierstan bench` is in --out, the ratio of
each engine's µs/gradient to the bare cost.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from hierstan.bench import run
from hierstan.engines.native_engine import gradient_cost
from hierstan.programs import load_program


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evaluations", type=int, default=20000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    args = parser.parse_args()
    # pointwise output is generated quantities: it does not enter the gradient
    prepared = {m: run.stan_data(run.Spec(model=m, engine="native")) for m in run.MODELS}
    times: dict[str, list[float]] = {m: [] for m in prepared}
    for _ in range(args.reps):  # alternate the programs so machine noise spreads over all
        for model, data in prepared.items():
            times[model].append(gradient_cost(load_program(data.program), data.data,
                                              evaluations=args.evaluations))
    rows = [{"model": m, "program": prepared[m].program, "bare_us_per_gradient": float(np.median(t))}
            for m, t in times.items()]
    table = pd.DataFrame(rows)
    lines = ["# Bare log-density gradient cost", "",
             f"`python scripts/gradient_cost.py --evaluations {args.evaluations} --reps {args.reps}`: "
             "median over reps of the mean time of one gradient, evaluated in a loop by the native "
             "driver at Stan's random initial point.", "", table.to_markdown(index=False, floatfmt=".4g"), ""]
    bench = args.out / "benchmark.csv"
    if bench.exists():
        measured = pd.read_csv(bench).dropna(subset=["us_per_gradient"])
        medians = measured.groupby(["model", "engine"])["us_per_gradient"].median().unstack()
        bare = table.set_index("model")["bare_us_per_gradient"]
        ratio = medians.div(bare, axis=0).dropna(how="all")
        lines += ["Each engine's µs/gradient in `benchmark.csv` (sampling, all included) over the bare "
                  "cost:", "", ratio.reset_index().to_markdown(index=False, floatfmt=".3g"), ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gradient_cost.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
