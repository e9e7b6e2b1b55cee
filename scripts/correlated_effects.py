"""Correlated vs independent varying intercepts and slopes (radon, Thai): what the correlation costs,
and whether its posterior recovers a known truth.

cost      Each family's independent and correlated variant on the shipped data, alternating, over
          several seeds (4 chains x 1000 + 1000, auto parameterization): sampling seconds,
          divergences, the smallest bulk ESS of the population parameters, and ESS per second.
          Medians per variant, and the ratio correlated / independent.
centring  Thai's correlated variant with every school non-centered about its pped share
          (`noncentered`) against the textbook form (`noncentered_plain`), alternating, over
          several seeds: does centring about the share still pay once the effects correlate?
recovery  Data simulated at fixed truths with rho = -0.5 and rho = 0 (radon: `simulate`, J
          counties, N houses; Thai: `simulate` at the first --schools schools, sigma_beta 0.5 so
          that the slopes vary enough to carry a correlation), each fitted with the correlated
          variant. The rank of each true population value among 99 thinned draws (hierstan.sbc
          with a fixed-truth simulator) says whether the central 90% interval covers it: ranks
          5..94 of 0..99, probability exactly 0.9 for calibrated intervals.

Usage: python scripts/correlated_effects.py cost [--seeds 5] [--out results/bench]
       python scripts/correlated_effects.py centring [--seeds 3] [--out results/bench]
       python scripts/correlated_effects.py recovery [--sims 40] [--out results/bench]
Writes correlated_<what>.csv/.md.
"""

from __future__ import annotations

import argparse
import functools
import platform
import sys
import warnings
from datetime import date
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

import hierstan
from hierstan.models import radon, thai

PAIRS = {"radon": ("varying_intercept_slope", "varying_intercept_slope_correlated"),
         "thai": ("random_slope", "random_slope_correlated")}
POPULATION = ["mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta"]
RHOS = (-0.5, 0.0)
INSIDE = (5, 94)  # ranks (0..99) of a truth inside the central 90% of 99 draws


def fit_once(family: str, variant: str, seed: int, engine: str, parameterization: str = "auto") -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = hierstan.get_family(family).fit(variant=variant, seed=seed, engine=engine, progress=False,
                                                parameterization=parameterization)
    names = POPULATION + (["Omega"] if "Omega" in idata.posterior else [])
    ess = az.ess(idata, var_names=names, method="bulk")
    # Omega's diagonal is constant (ESS undefined): its off-diagonal element only
    values = [float(ess[n].values) for n in POPULATION]
    if "Omega" in ess:
        values.append(float(ess["Omega"].sel(effect="alpha", effect2="beta").values))
    seconds = float(idata.posterior.attrs["sampling_seconds"])
    return {"family": family, "variant": variant, "parameterization": parameterization, "seed": seed,
            "seconds": seconds,
            "divergences": int(idata.sample_stats["diverging"].sum()), "min_ess_bulk": min(values),
            "ess_per_s": min(values) / seconds,
            "rho_mean": (float(idata.posterior["Omega"].sel(effect="alpha", effect2="beta").mean())
                         if "Omega" in idata.posterior else np.nan)}


def cost(args: argparse.Namespace) -> tuple[pd.DataFrame, str]:
    rows = []
    for seed in range(1, args.seeds + 1):
        for family, variants in PAIRS.items():
            # alternate which variant goes first: the machine is shared and its speed drifts
            for variant in variants if seed % 2 else variants[::-1]:
                rows.append(fit_once(family, variant, seed, args.engine))
                print(rows[-1], flush=True)
    runs = pd.DataFrame(rows)
    medians = runs.groupby(["family", "variant"], sort=False)[
        ["seconds", "min_ess_bulk", "ess_per_s", "rho_mean"]].median()
    medians["divergences (sum)"] = runs.groupby(["family", "variant"], sort=False)["divergences"].sum()
    ratio = {family: medians.loc[(family, v[1]), "ess_per_s"] / medians.loc[(family, v[0]), "ess_per_s"]
             for family, v in PAIRS.items()}
    text = (medians.to_markdown(floatfmt=".3g") + "\n\nESS/s of the correlated variant over the independent "
            "one (medians): " + ", ".join(f"{f} {r:.2f}" for f, r in ratio.items()) + "\n")
    return runs, text


def centring(args: argparse.Namespace) -> tuple[pd.DataFrame, str]:
    forms = ("noncentered", "noncentered_plain")
    rows = []
    for seed in range(1, args.seeds + 1):
        for form in forms if seed % 2 else forms[::-1]:
            rows.append(fit_once("thai", PAIRS["thai"][1], seed, args.engine, form))
            print(rows[-1], flush=True)
    runs = pd.DataFrame(rows)
    columns = ["seconds", "min_ess_bulk", "ess_per_s", "divergences"]
    medians = runs.groupby("parameterization", sort=False)[columns].median()
    ratio = medians.loc["noncentered", "ess_per_s"] / medians.loc["noncentered_plain", "ess_per_s"]
    return runs, (medians.to_markdown(floatfmt=".3g") + f"\n\nESS/s about the pped share over the textbook "
                  f"form (medians): {ratio:.2f}\n")


def _radon_truth(design: pd.DataFrame, *, seed: int, rho: float, counties: int, houses: int):
    frame, truth = radon.simulate(J=counties, N=houses, truth={"rho": rho}, seed=seed)
    return frame, _with_omega(truth)


def _thai_truth(design: pd.DataFrame, *, seed: int, rho: float):
    frame, truth = thai.simulate({"rho": rho, "sigma_beta": 0.5}, data=design, seed=seed)
    return frame, _with_omega(truth)


def _with_omega(truth: dict) -> dict:
    """The truth keyed as the correlated fit's posterior (the correlation as Omega)."""
    omega = np.array([[1.0, truth["rho"]], [truth["rho"], 1.0]])
    return {**{k: np.asarray(v, dtype=float) for k, v in truth.items() if k != "rho"}, "Omega": omega}


def recovery(args: argparse.Namespace) -> tuple[pd.DataFrame, str]:
    shipped = thai.load_data()
    design = shipped[shipped["school_id"].isin(pd.unique(shipped["school_id"])[:args.schools])]
    simulators = {
        "radon": (None, lambda rho: functools.partial(_radon_truth, rho=rho, counties=args.counties,
                                                      houses=args.houses)),
        "thai": (design.reset_index(drop=True), lambda rho: functools.partial(_thai_truth, rho=rho)),
    }
    rows = []
    for family, (data, make) in simulators.items():
        for rho in RHOS:
            result = hierstan.sbc(family, variant=PAIRS[family][1], n_sims=args.sims, data=data,
                                  simulator=make(rho), seed=args.seed, engine=args.engine,
                                  workers=args.workers,
                                  folder=args.out / "correlated_recovery" / f"{family}_{rho:g}")
            ranks = result.ranks
            ranks = ranks[ranks["variable"].isin(POPULATION + ["Omega", "sigma_y"])]
            fits = result.fits
            for parameter, group in ranks.groupby("parameter", sort=False):
                label = "rho" if parameter == "Omega[beta, alpha]" else parameter
                rows.append({"family": family, "rho": rho, "parameter": label, "sims": len(group),
                             "coverage_90": float(group["rank"].between(*INSIDE).mean()),
                             "fits_with_divergences": int(fits["divergences"].gt(0).sum())})
    table = pd.DataFrame(rows)
    text = table.to_markdown(index=False, floatfmt=".3g") + (
        f"\n\nCoverage of the central 90% interval (truth ranked {INSIDE[0]}..{INSIDE[1]} among 99 draws); "
        f"its binomial standard error at {args.sims} simulations is "
        f"{np.sqrt(0.09 / args.sims):.3f}.\n")
    return table, text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("cost", "centring", "recovery"))
    parser.add_argument("--seeds", type=int, default=5, help="cost: sampler seeds per variant")
    parser.add_argument("--sims", type=int, default=40, help="recovery: simulations per truth")
    parser.add_argument("--counties", type=int, default=150, help="recovery: radon's J")
    parser.add_argument("--houses", type=int, default=1500, help="recovery: radon's N")
    parser.add_argument("--schools", type=int, default=100, help="recovery: Thai's first schools")
    parser.add_argument("--seed", type=int, default=1, help="recovery: SBC seed")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    table, text = {"cost": cost, "centring": centring, "recovery": recovery}[args.what](args)
    name = f"correlated_{args.what}"
    table.to_csv(args.out / f"{name}.csv", index=False)
    command = "python scripts/correlated_effects.py " + " ".join(argv if argv is not None else sys.argv[1:])
    (args.out / f"{name}.md").write_text(
        f"# Correlated varying intercepts and slopes: {args.what}\n\n{date.today()}, {platform.platform()}, "
        f"engine {args.engine}. Command: `{command}`\n\n{text}")
    print(text)


if __name__ == "__main__":
    main()
