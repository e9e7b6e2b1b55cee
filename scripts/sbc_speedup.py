"""Wall time of one SBC run on 1 worker against 2 workers (LocalCluster), alternated and repeated.

    python scripts/sbc_speedup.py --family radon --sims 40 --repeats 3 --out results/bench

Each repeat runs the same SBC (same seeds, so the same fits) once per worker count, in
alternating order, timing everything ``hierstan.sbc`` does after the program is compiled:
starting the cluster, the fits, and collecting the ranks. Reports each time and the median
speed-up. The machine should be otherwise idle.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import hierstan
from hierstan.reporting import SBC_RUNS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="radon", choices=list(SBC_RUNS))
    parser.add_argument("--sims", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--out", type=Path, default=None, help="folder for sbc_speedup.md")
    args = parser.parse_args()
    design, priors = SBC_RUNS[args.family]
    data = design()
    hierstan.sbc(args.family, n_sims=1, data=data, priors=priors, engine=args.engine, workers=1,
                 progress=False)  # compile once, outside the timings
    times: dict[int, list[float]] = {1: [], 2: []}
    for repeat in range(args.repeats):
        for workers in ((1, 2) if repeat % 2 == 0 else (2, 1)):
            start = time.perf_counter()
            result = hierstan.sbc(args.family, n_sims=args.sims, data=data, priors=priors, engine=args.engine,
                                  workers=workers, progress=False)
            times[workers].append(time.perf_counter() - start)
            print(f"repeat {repeat + 1}, {workers} worker(s): {times[workers][-1]:.1f} s "
                  f"({result.fits['status'].eq('failed').sum()} failed)", flush=True)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    lines = [
        f"# SBC wall time, 1 worker against 2 ({args.family}, {args.sims} simulations)",
        "",
        f"`python scripts/sbc_speedup.py --family {args.family} --sims {args.sims} --repeats {args.repeats}`"
        f" on {os.cpu_count()} cores, engine {hierstan.get_engine(args.engine).name}; the order of the two "
        "alternates between repeats; each run includes starting its LocalCluster.",
        "",
        "| workers | wall times (s) | median (s) |",
        "|---|---|---|",
        *(f"| {w} | {', '.join(f'{t:.1f}' for t in times[w])} | {statistics.median(times[w]):.1f} |"
          for w in (1, 2)),
        "",
        f"Speed-up of 2 workers over 1 (ratio of medians): **{one / two:.2f}**",
    ]
    print("\n".join(lines))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "sbc_speedup.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
