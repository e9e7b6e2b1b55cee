"""Simulation-based calibration of the glmm family on three simulated designs (issue 31):
gaussian with two crossed grouping factors, one with a correlated slope; bernoulli and poisson
with one factor. Writes results/sbc/glmm_<name>/ and results/sbc/glmm_sbc.md.

    python scripts/glmm_sbc.py --sims 100 --out results
"""

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

import hierstan


def design(rows: int, first: int, second: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "y": 0,
            "x": rng.normal(size=rows),
            "g": [f"g{j}" for j in rng.integers(0, first, rows)],
            "h": [f"h{j}" for j in rng.integers(0, second, rows)],
        }
    )


# priors fixed in absolute terms (outcome location 0, scale 1), tighter than the defaults so
# that the simulated counts stay within what a count model meets (exp(eta) of a few hundred)
PRIORS = {
    "outcome_location": 0.0,
    "outcome_scale": 1.0,
    "intercept_scale": 1.0,
    "coef_scale": 0.5,
    "sd_scale": 0.5,
    "sigma_scale": 1.0,
}
RUNS = {
    "gaussian_crossed": (lambda: design(600, 20, 15, 1), "y ~ x + (1 + x | g) + (1 | h)", "gaussian"),
    "bernoulli": (lambda: design(800, 25, 2, 2), "y ~ x + (1 | g)", "bernoulli"),
    "poisson": (lambda: design(500, 25, 2, 3), "y ~ x + (1 | g)", "poisson"),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sims", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--runs", nargs="*", default=list(RUNS))
    args = parser.parse_args()
    rows = []
    for name in args.runs:
        make, formula, likelihood = RUNS[name]
        start = time.perf_counter()
        result = hierstan.sbc(
            "glmm",
            n_sims=args.sims,
            data=make(),
            priors=PRIORS,
            options={
                "formula": formula,
                "likelihood": likelihood,
            },
            seed=1,
            workers=args.workers,
            progress=False,
        )
        result.write(args.out / "sbc" / f"glmm_{name}")
        print(result.summary())
        tests, fits = result.tests, result.fits
        rows.append(
            {
                "design": name,
                "formula": formula.replace("|", "\\|"),  # a pipe would end a markdown cell
                "likelihood": likelihood,
                "simulations": len(fits),
                "failed": int(fits["status"].eq("failed").sum()),
                "with divergences": int(fits["status"].eq("divergent").sum()),
                "parameters": len(tests),
                "not uniform (Holm, 5%)": int((~tests["uniform"]).sum()),
                "outside 95% band": int(tests["outside_band"].sum()),
                "smallest p": round(float(tests["p_value"].min()), 4),
                "minutes": round((time.perf_counter() - start) / 60, 1),
            }
        )
    table = pd.DataFrame(rows)
    (args.out / "sbc" / "glmm_sbc.md").write_text(
        f"# SBC of the glmm family (`python scripts/glmm_sbc.py --sims {args.sims}`)\n\n"
        + table.to_markdown(index=False)
        + "\n\nPriors (absolute): "
        + ", ".join(f"{k}={v:g}" for k, v in PRIORS.items())
        + ". Ranks of every parameter (fixed effects, sds, correlations, every level's effects) among "
        "99 thinned draws of 4 chains x 250; chi-square per parameter with Holm's correction.\n"
    )
    print(table.to_string())


if __name__ == "__main__":
    main()
