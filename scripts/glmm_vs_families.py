"""The same model through both doors: a family program against glmm's formula, same priors.

For each pair (radon varying_intercept, radon varying_intercept_slope_correlated, Thai
random_slope_correlated) both fits run on the same data, engine and seed, alternating, --reps
times. Every parameter they share (population means, sds, correlation, residual sd, and each
group's own intercept and slope) is compared by its posterior means: z = difference / the two
MCSEs combined (ArviZ's mcse). Speed: min bulk ESS over the shared parameters per second of the
fit call (wall, compile cached) and per second of sampling, medians over the reps.

    python scripts/glmm_vs_families.py --reps 3 --out results/bench
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

import hierstan

# radon's programs: normal(0, coef_scale) means and slope, half-Cauchy(0, hyper_scale) sds,
# half-Cauchy(0, sigma_scale) residual sd, LKJ(lkj_eta) (hierstan/models/radon.py PRIORS)
RADON_PRIORS = {
    "autoscale": 0,
    "scale_prior": "half_cauchy",
    "intercept_scale": 10.0,
    "coef_scale": 10.0,
    "sd_scale": 5.0,
    "sigma_scale": 5.0,
    "lkj_eta": 2.0,
}
# Thai's: normal(0, mean_scale) means, half-normal(0, hyper_scale) sds, LKJ(lkj_eta)
THAI_PRIORS = {
    "autoscale": 0,
    "scale_prior": "half_normal",
    "intercept_scale": 100.0,
    "coef_scale": 100.0,
    "sd_scale": 50.0,
    "lkj_eta": 2.0,
}


def _draws(values) -> np.ndarray:
    return np.asarray(values, dtype=float)


def _radon_family(post, slope: bool) -> dict[str, np.ndarray]:
    shared = {
        "intercept mean": post["mu_alpha"],
        "intercept sd": post["sigma_alpha"],
        "residual sd": post["sigma_y"],
    }
    if slope:
        shared.update(
            {
                "slope mean": post["mu_beta"],
                "slope sd": post["sigma_beta"],
                "correlation": post["Omega"][..., 1, 0],
            }
        )
    else:
        shared["slope mean"] = post["beta"]
    out = {name: _draws(v) for name, v in shared.items()}
    for j, county in enumerate(post["county"].values):
        out[f"intercept[{county}]"] = _draws(post["alpha"][..., j])
        if slope:
            out[f"slope[{county}]"] = _draws(post["beta"][..., j])
    return out


def _thai_family(post) -> dict[str, np.ndarray]:
    out = {
        "intercept mean": _draws(post["mu_alpha"]),
        "intercept sd": _draws(post["sigma_alpha"]),
        "slope mean": _draws(post["mu_beta"]),
        "slope sd": _draws(post["sigma_beta"]),
        "correlation": _draws(post["Omega"][..., 1, 0]),
    }
    group = post["alpha"].dims[-1]
    for j, school in enumerate(post[group].values):
        out[f"intercept[{school}]"] = _draws(post["alpha"][..., j])
        out[f"slope[{school}]"] = _draws(post["beta"][..., j])
    return out


def _glmm(post, factor: str, slope: str, has_slope: bool) -> dict[str, np.ndarray]:
    b = post["b"]
    out = {
        "intercept mean": _draws(b.sel(coef="Intercept")),
        "slope mean": _draws(b.sel(coef=slope)),
        "intercept sd": _draws(post[f"sd_{factor}"].sel({f"{factor}_term": "Intercept"})),
    }
    if "sigma" in post:
        out["residual sd"] = _draws(post["sigma"])
    r = post[f"r_{factor}"]
    term = f"{factor}_term"
    if has_slope:
        out["slope sd"] = _draws(post[f"sd_{factor}"].sel({term: slope}))
        out["correlation"] = _draws(post[f"corr_{factor}"].sel({term: slope, f"{factor}_term2": "Intercept"}))
    for j, level in enumerate(post[factor].values):
        out[f"intercept[{level}]"] = _draws(b.sel(coef="Intercept") + r[..., j, :].sel({term: "Intercept"}))
        if has_slope:
            out[f"slope[{level}]"] = _draws(b.sel(coef=slope) + r[..., j, :].sel({term: slope}))
    return out


@dataclass
class Pair:
    name: str
    family: Callable[..., Any]
    family_options: dict[str, Any]
    family_shared: Callable[[Any], dict[str, np.ndarray]]
    formula: str
    likelihood: str
    priors: dict[str, Any]
    glmm_shared: Callable[[Any], dict[str, np.ndarray]]
    data: Callable[[], pd.DataFrame] = field(default=lambda: None)


PAIRS = [
    Pair(
        "radon varying_intercept",
        hierstan.radon.fit,
        {"variant": "varying_intercept"},
        lambda p: _radon_family(p, slope=False),
        "log_radon ~ floor + (1 | county)",
        "gaussian",
        RADON_PRIORS,
        lambda p: _glmm(p, "county", "floor", has_slope=False),
        hierstan.radon.load_data,
    ),
    Pair(
        "radon varying_intercept_slope_correlated",
        hierstan.radon.fit,
        {"variant": "varying_intercept_slope_correlated"},
        lambda p: _radon_family(p, slope=True),
        "log_radon ~ floor + (1 + floor | county)",
        "gaussian",
        RADON_PRIORS,
        lambda p: _glmm(p, "county", "floor", has_slope=True),
        hierstan.radon.load_data,
    ),
    Pair(
        "Thai random_slope_correlated",
        hierstan.thai.fit,
        {"variant": "random_slope_correlated"},
        _thai_family,
        "repeat ~ pped + (1 + pped | school_id)",
        "bernoulli",
        THAI_PRIORS,
        lambda p: _glmm(p, "school_id", "pped", has_slope=True),
        hierstan.thai.load_data,
    ),
]


def _fit(pair: Pair, door: str, engine: str, seed: int) -> tuple[dict[str, np.ndarray], float, float, Any]:
    data = pair.data()
    start = time.perf_counter()
    if door == "family":
        idata = pair.family(data, engine=engine, seed=seed, progress=False, **pair.family_options)
    else:
        idata = hierstan.glmm.fit(
            data,
            formula=pair.formula,
            likelihood=pair.likelihood,
            priors=pair.priors,
            engine=engine,
            seed=seed,
            progress=False,
        )
    wall = time.perf_counter() - start
    shared = (pair.family_shared if door == "family" else pair.glmm_shared)(idata.posterior)
    attrs = idata.posterior.attrs
    seconds = float(attrs["sampling_seconds"])  # the engine's run: warmup and sampling
    return shared, wall, seconds, idata


def compare(pair: Pair, engine: str, reps: int, seed: int, log=print) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per rep and door: time, min bulk ESS, divergences; per shared parameter (first rep): z."""
    runs, agreement = [], None
    for rep in range(reps):
        fits = {}
        # alternate which door goes first
        for door in ("family", "glmm") if rep % 2 == 0 else ("glmm", "family"):
            shared, wall, seconds, idata = _fit(pair, door, engine, seed + rep)
            ess = {k: az.ess(v, method="bulk").item() for k, v in shared.items()}
            fits[door] = shared
            divergent = int(idata.sample_stats["diverging"].sum())
            runs.append(
                {
                    "pair": pair.name,
                    "rep": rep,
                    "door": door,
                    "wall s": wall,
                    "sampler s": seconds,
                    "min bulk ESS": min(ess.values()),
                    "ESS/s (wall)": min(ess.values()) / wall,
                    "ESS/s (sampler)": min(ess.values()) / seconds,
                    "divergences": divergent,
                    "max R-hat": max(az.rhat(v).item() for v in shared.values()),
                }
            )
            log(
                f"{pair.name} rep {rep} {door}: {wall:.1f} s, min ESS {min(ess.values()):.0f}, "
                f"{divergent} divergences"
            )
        if agreement is None:
            missing = set(fits["family"]) ^ set(fits["glmm"])
            if missing:
                raise RuntimeError(f"{pair.name}: parameters on one side only: {sorted(missing)[:5]}")
            rows = []
            for name in fits["family"]:
                a, b = fits["family"][name], fits["glmm"][name]
                mcse = np.hypot(az.mcse(a, method="mean"), az.mcse(b, method="mean")).item()
                rows.append(
                    {
                        "pair": pair.name,
                        "parameter": name,
                        "family mean": a.mean(),
                        "glmm mean": b.mean(),
                        "posterior sd": a.std(),
                        "z": (b.mean() - a.mean()) / mcse,
                    }
                )
            agreement = pd.DataFrame(rows)
    return pd.DataFrame(runs), agreement


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--engine", default="native")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    runs, agreements = [], []
    for pair in PAIRS:
        run, agreement = compare(pair, args.engine, args.reps, args.seed)
        runs.append(run)
        agreements.append(agreement)
    runs, agreements = pd.concat(runs), pd.concat(agreements)
    medians = runs.groupby(["pair", "door"], sort=False).median(numeric_only=True).drop(columns="rep")
    speed = medians["ESS/s (wall)"].unstack("door")
    sampler = medians["ESS/s (sampler)"].unstack("door")
    summary = pd.DataFrame(
        {
            "shared parameters": agreements.groupby("pair", sort=False).size(),
            "max abs(z)": agreements.assign(a=agreements["z"].abs()).groupby("pair", sort=False)["a"].max(),
            "abs(z) > 3": agreements.assign(a=agreements["z"].abs() > 3)
            .groupby("pair", sort=False)["a"]
            .sum(),
            # if the doors agree, z is about normal(0, 1): sd near 1, |z| > 3 for 0.27% of parameters
            "sd of z": agreements.groupby("pair", sort=False)["z"].std(),
            "abs(z) > 3 expected": agreements.groupby("pair", sort=False).size() * 0.0027,
            "glmm / family ESS/s (wall)": speed["glmm"] / speed["family"],
            "glmm / family ESS/s (sampler)": sampler["glmm"] / sampler["family"],
        }
    ).round(3)
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / "glmm_vs_families_runs.csv", index=False)
    agreements.to_csv(args.out / "glmm_vs_families_agreement.csv", index=False)
    (args.out / "glmm_vs_families.md").write_text(
        "# The same model through both doors: family program against glmm's formula\n\n"
        f"`python scripts/glmm_vs_families.py --reps {args.reps} --engine {args.engine}` "
        f"({time.perf_counter() - start:.0f} s; same priors, data, seeds; doors alternating; medians "
        "over reps). z: difference of the posterior means over their combined MCSE (first rep). "
        "Speed: min bulk ESS over the shared parameters per second.\n\n"
        + summary.to_markdown()
        + "\n\nPer door (medians):\n\n"
        + medians.round(3).to_markdown()
        + "\n"
    )
    print(summary.to_string())
    print(medians.round(3).to_string())


if __name__ == "__main__":
    main()
