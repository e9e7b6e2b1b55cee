"""glmm against bambi (with the nutpie sampler) on the same formula and data, one row per
likelihood: min bulk ESS per second side by side (issue 31).

bambi runs in an environment of its own (--env, default .venv-bambi, made on first use from PyPI):
bambi 0.17.2 brings arviz-plots, which ArviZ 0.23 (hierstan's pin) imports whenever it is
installed and which fails on the matplotlib (3.11) hierstan's environment resolves, so the two
cannot share one. The bambi side is this same file run by that environment's Python (--worker).

Each likelihood's data are simulated (`y ~ x + (1 | g)`, 2000 rows, 40 groups; trials 5 for the
binomial). Both sides: 4 chains, 1000 warmup + 1000 draws, default priors (hierstan's autoscaled
ones, bambi's own, which are also rstanarm-like). Reps alternate the sides; medians are reported.
ESS/s: min bulk ESS over the intercept, the slope, the group sd and sigma/alpha where there is
one, over the wall time of the fit call (hierstan: compile cached; bambi: model built and nutpie
compiled in the same call, shown apart as "bambi sampling s" where nutpie reports it).

    python scripts/glmm_vs_bambi.py --reps 3 --out results/bench
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FORMULA = "y ~ x + (1 | g)"
LIKELIHOODS = {  # hierstan's name: bambi's family
    "gaussian": "gaussian",
    "bernoulli": "bernoulli",
    "binomial": "binomial",
    "poisson": "poisson",
    "negative_binomial": "negativebinomial",
}
BAMBI = ["bambi==0.17.2", "nutpie>=0.16,<0.17", "matplotlib<3.11"]


def simulate(likelihood: str, rows: int = 2000, groups: int = 40, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, rows)
    x = rng.normal(size=rows)
    eta = 0.3 + 0.5 * x + rng.normal(0, 0.6, groups)[g]
    n = np.full(rows, 5)
    if likelihood == "gaussian":
        y = eta + rng.normal(0, 1.0, rows)
    elif likelihood == "bernoulli":
        y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    elif likelihood == "binomial":
        y = rng.binomial(n, 1 / (1 + np.exp(-eta)))
    elif likelihood == "poisson":
        y = rng.poisson(np.exp(eta))
    else:
        mu = np.exp(eta)
        y = rng.negative_binomial(3.0, 3.0 / (3.0 + mu))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{j}" for j in g], "n": n})


def _hierstan(likelihood: str, df: pd.DataFrame, seed: int) -> dict:
    import arviz as az

    import hierstan

    start = time.perf_counter()
    idata = hierstan.glmm.fit(
        df,
        formula=FORMULA,
        likelihood=likelihood,
        seed=seed,
        progress=False,
        trials="n" if likelihood == "binomial" else None,
    )
    wall = time.perf_counter() - start
    post = idata.posterior
    names = ["b", "sd_g"] + [v for v in ("sigma", "phi") if v in post]
    ess = min(float(az.ess(post[names], method="bulk")[v].min()) for v in names)
    return {
        "wall s": wall,
        "sampling s": float(post.attrs["sampling_seconds"]),
        "min bulk ESS": ess,
        "divergences": int(idata.sample_stats["diverging"].sum()),
    }


def _bambi(likelihood: str, data: Path, seed: int) -> dict:
    import arviz as az
    import bambi as bmb

    df = pd.read_csv(data)
    formula = "p(y, n) ~ x + (1 | g)" if likelihood == "binomial" else FORMULA
    start = time.perf_counter()
    model = bmb.Model(formula, df, family=LIKELIHOODS[likelihood])
    idata = model.fit(
        draws=1000, tune=1000, chains=4, inference_method="nutpie", random_seed=seed, progressbar=False
    )
    wall = time.perf_counter() - start
    post = idata.posterior
    names = [v for v in post.data_vars if v in ("Intercept", "x", "1|g_sigma", "sigma", "alpha")]
    ess = min(float(az.ess(post[names], method="bulk")[v].min()) for v in names)
    sampling = idata.posterior.attrs.get("sampling_time")  # nutpie's own clock: sampling alone
    return {
        "wall s": wall,
        "sampling s": float(sampling) if sampling is not None else None,
        "min bulk ESS": ess,
        "divergences": int(idata.sample_stats["diverging"].sum()),
        "compared": names,
    }


def environment(folder: Path) -> Path:
    """The bambi environment's Python, made (venv + pip) if missing."""
    python = folder / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *BAMBI, "pandas"], check=True)
    return python


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench")
    parser.add_argument("--env", type=Path, default=ROOT / ".venv-bambi")
    parser.add_argument("--likelihoods", nargs="*", default=list(LIKELIHOODS))
    parser.add_argument("--worker", nargs=3, metavar=("LIKELIHOOD", "CSV", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        likelihood, data, seed = args.worker
        print(json.dumps(_bambi(likelihood, Path(data), int(seed))))
        return
    python = environment(args.env)
    rows = []
    with tempfile.TemporaryDirectory(prefix="hierstan-bambi-") as folder:
        for likelihood in args.likelihoods:
            df = simulate(likelihood)
            data = Path(folder) / f"{likelihood}.csv"
            df.to_csv(data, index=False)
            for rep in range(args.reps):
                for side in ("hierstan", "bambi") if rep % 2 == 0 else ("bambi", "hierstan"):
                    if side == "hierstan":
                        found = _hierstan(likelihood, df, seed=rep + 1)
                    else:
                        run = subprocess.run(
                            [
                                str(python),
                                "-W",
                                "ignore",
                                __file__,
                                "--worker",
                                likelihood,
                                str(data),
                                str(rep + 1),
                            ],
                            capture_output=True,
                            text=True,
                        )
                        if run.returncode != 0:
                            raise RuntimeError(f"bambi ({likelihood}) failed:\n{run.stderr[-3000:]}")
                        found = json.loads(run.stdout.strip().splitlines()[-1])
                    found.pop("compared", None)
                    rows.append(
                        {
                            "likelihood": likelihood,
                            "rep": rep,
                            "side": side,
                            **found,
                            "ESS/s": found["min bulk ESS"] / found["wall s"],
                            "ESS/s sampling": found["min bulk ESS"] / found["sampling s"],
                        }
                    )
                    print(rows[-1], flush=True)
    runs = pd.DataFrame(rows)
    medians = runs.groupby(["likelihood", "side"], sort=False).median(numeric_only=True).drop(columns="rep")
    speed = medians["ESS/s"].unstack("side")
    sampler = medians["ESS/s sampling"].unstack("side")
    table = medians.round(2)
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / "glmm_vs_bambi_runs.csv", index=False)
    (args.out / "glmm_vs_bambi.md").write_text(
        f"# glmm against bambi + nutpie: `{FORMULA}`\n\n`python scripts/glmm_vs_bambi.py --reps {args.reps}` "
        "(medians over reps, sides alternating; bambi 0.17.2 with nutpie in its own environment). "
        "ESS/s (wall): min bulk ESS of the population parameters per second of the fit call "
        "(bambi's includes building the model and nutpie's compile; hierstan's compile is cached). "
        "ESS/s (sampling alone): per second of the sampler's own clock (hierstan: the driver's "
        "run, warmup included; nutpie: its sampling_time).\n\n"
        + pd.DataFrame({"hierstan / bambi ESS/s (wall)": speed["hierstan"] / speed["bambi"],
                        "(sampling alone)": sampler["hierstan"] / sampler["bambi"]})
        .round(2)
        .to_markdown()
        + "\n\n"
        + table.to_markdown()
        + "\n"
    )
    print(table.to_string())


if __name__ == "__main__":
    main()
