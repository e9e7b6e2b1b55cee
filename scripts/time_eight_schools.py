"""Time eight schools on one engine: cold compile, warm start in a new process, sampling.

Usage: python scripts/time_eight_schools.py [--engine auto|native|cmdstan] [--out results/bench]
Each step runs in a fresh Python process; the cold compile uses an empty temporary cache.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIT = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
import hierstan
idata = hierstan.eight_schools.fit(parameterization=sys.argv[1], engine=sys.argv[2], seed=1, progress=False)
attrs = idata.posterior.attrs
print(json.dumps({"process_s": time.perf_counter() - start, "build_s": attrs["build_seconds"],
                  "sampling_s": attrs["sampling_seconds"], "compiled_now": attrs["compiled_now"],
                  "divergences": int(idata.sample_stats["diverging"].sum()),
                  "engine": attrs["engine_version"]}))
"""


def run(variant: str, engine: str, cache: str) -> dict:
    env = {**os.environ, "HIERSTAN_CACHE_DIR": cache}
    out = subprocess.run([sys.executable, "-c", FIT, variant, engine], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for variant in ("noncentered", "centered"):
            for step in ("cold", "warm", "warm again"):
                started = time.perf_counter()
                row = run(variant, args.engine, cache)
                rows.append({"variant": variant, "step": step,
                             "wall_s": round(time.perf_counter() - started, 2),
                             **{k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}})
    args.out.mkdir(parents=True, exist_ok=True)
    header = list(rows[0])
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    table += ["| " + " | ".join(str(r[h]) for h in header) + " |" for r in rows]
    text = ("Eight schools, 4 chains x 1000 draws (+1000 warmup), seed 1, one fresh process per row.\n"
            "wall_s: whole process; process_s: import + fit; build_s: compile or cache load; "
            "sampling_s: sampling alone.\n\n" + "\n".join(table) + "\n")
    (args.out / "eight_schools_timing.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
