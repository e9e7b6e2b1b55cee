"""The glmm family at scale (issue 31): a gaussian model with two crossed grouping factors of
many levels and a third small one, `y ~ x + (1 | g) + (1 | h) + (1 | k)`, simulated, fitted with
default settings on the native engine. Each size runs in its own process, so that its peak memory
(this process and the sampler's, resource.getrusage) is its own. Writes
results/bench/glmm_scale.{csv,md}.

    python scripts/glmm_scale.py --out results/bench
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

# (rows, levels of each crossed factor): levels varied at 10,000 rows, then rows at 3,000 levels
SIZES = [(10_000, 500), (10_000, 3_000), (70_000, 3_000)]
SMALL = 8
FORMULA = "y ~ x + (1 | g) + (1 | h) + (1 | k)"


def simulate(rows: int, levels: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g, h, k = rng.integers(0, levels, rows), rng.integers(0, levels, rows), rng.integers(0, SMALL, rows)
    x = rng.normal(size=rows)
    y = (
        1.0
        + 0.5 * x
        + rng.normal(0, 0.5, levels)[g]
        + rng.normal(0, 0.3, levels)[h]
        + rng.normal(0, 0.4, SMALL)[k]
        + rng.normal(0, 1.0, rows)
    )
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str), "h": h.astype(str), "k": k.astype(str)})


def one(rows: int, levels: int) -> dict:
    import arviz as az

    import hierstan

    df = simulate(rows, levels)
    start = time.perf_counter()
    idata = hierstan.glmm.fit(df, formula=FORMULA, seed=1, progress=False)
    wall = time.perf_counter() - start
    post = idata.posterior
    ess = az.ess(post, method="bulk")
    rhat = az.rhat(post)
    population = ["b", "sigma", "sd_g", "sd_h", "sd_k"]
    least = min(float(ess[v].min()) for v in population)
    peak_kib = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    return {
        "rows": rows,
        "levels per crossed factor": levels,
        "parameters": int(
            sum(post[v].size // (post.sizes["chain"] * post.sizes["draw"]) for v in post.data_vars)
        ),
        "wall s": round(wall, 1),
        "sampler s": round(float(post.attrs["sampling_seconds"]), 1),
        "divergences": int(idata.sample_stats["diverging"].sum()),
        "min bulk ESS (population)": round(least),
        "min bulk ESS (all)": round(min(float(ess[v].min()) for v in ess.data_vars)),
        "max R-hat": round(max(float(rhat[v].max()) for v in rhat.data_vars), 3),
        "ESS/s (population, wall)": round(least / wall, 2),
        "peak memory MiB": round(peak_kib / 1024),
        "sd_g": round(float(post["sd_g"].mean()), 3),
        "sd_h": round(float(post["sd_h"].mean()), 3),
        "sd_k": round(float(post["sd_k"].mean()), 3),
        "sigma": round(float(post["sigma"].mean()), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    parser.add_argument("--one", nargs=2, type=int, metavar=("ROWS", "LEVELS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one)))
        return
    found = []
    for rows, levels in SIZES:
        run = subprocess.run(
            [sys.executable, "-W", "ignore", __file__, "--one", str(rows), str(levels)],
            capture_output=True,
            text=True,
            check=True,
        )
        found.append(json.loads(run.stdout.strip().splitlines()[-1]))
        print(found[-1], flush=True)
    table = pd.DataFrame(found)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "glmm_scale.csv", index=False)
    (args.out / "glmm_scale.md").write_text(
        f"# glmm at scale: `{FORMULA}`\n\n`python scripts/glmm_scale.py` (native engine, default "
        "settings: 4 chains, 1000 warmup + 1000 draws, 2 cores). Simulated with sd_g 0.5, sd_h 0.3, "
        f"sd_k 0.4 ({SMALL} levels), sigma 1. Population: b, sigma and the three sds.\n\n"
        + table.to_markdown(index=False)
        + "\n"
    )
    print(table.to_string())


if __name__ == "__main__":
    main()
