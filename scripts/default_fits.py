"""Does every family's default fit run clean? Fits each family with its defaults (the shipped data,
4 chains x 1000 draws, the default variant and parameterization) over several seeds and records
the HierstanWarnings each fit raised, with its diagnostics.

Usage: python scripts/default_fits.py [--seeds 5] [--families ...] [--engine auto] [--out results/bench]
Writes default_fits.csv (one row per fit) and default_fits.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings
from datetime import date
from pathlib import Path

import pandas as pd

import hierstan


def fit_once(family: str, seed: int, engine: str) -> dict:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        idata = hierstan.get_family(family).fit(seed=seed, engine=engine, progress=False)
    report = hierstan.diagnose(idata)
    problems = [str(w.message) for w in caught if issubclass(w.category, hierstan.HierstanWarning)]
    attrs = idata.posterior.attrs
    return {"family": family, "variant": attrs.get("variant"), "seed": seed,
            "parameterization": attrs.get("parameterization", ""),
            "divergences": report.divergences, "treedepth_hits": report.treedepth_hits,
            "rhat_max": report.rhat_max, "ess_bulk_min": report.ess_bulk_min,
            "sampling_s": attrs.get("sampling_seconds"), "warnings": len(problems),
            "warning_text": " | ".join(problems), "choice": attrs.get("parameterization_choice", "")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--families", nargs="+", default=sorted(hierstan.FAMILIES))
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    args = parser.parse_args(argv)
    rows = []
    for family in args.families:
        for seed in range(1, args.seeds + 1):
            started = time.perf_counter()
            rows.append(fit_once(family, seed, args.engine))
            print(f"{family} seed {seed}: {rows[-1]['warnings']} warning(s) "
                  f"({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "default_fits.csv", index=False)
    summary = table.groupby(["family", "variant", "parameterization"]).agg(
        fits=("seed", "size"), fits_with_warnings=("warnings", lambda w: int((w > 0).sum())),
        divergences=("divergences", "sum"), treedepth_hits=("treedepth_hits", "sum"),
        rhat_max=("rhat_max", "max"), ess_bulk_min=("ess_bulk_min", "min"))
    header = (f"# Default fits: HierstanWarnings over {args.seeds} seeds per family\n\n"
              f"{date.today()}, {platform.platform()}, engine {args.engine}; 4 chains x 1000 draws "
              f"(1000 warmup), seeds 1..{args.seeds}. Command: `python scripts/default_fits.py "
              f"{' '.join(argv if argv is not None else sys.argv[1:])}`\n\n")
    choices = table.drop_duplicates("family").set_index("family")["choice"]
    notes = "\n".join(f"- {family}: {text}" for family, text in choices.items() if text)
    warned = table[table["warnings"] > 0][["family", "seed", "warning_text"]]
    (args.out / "default_fits.md").write_text(
        header + summary.to_markdown(floatfmt=".3g") + "\n\nWhat `auto` chose:\n\n" + notes + "\n\n"
        + ("Warnings:\n\n" + warned.to_markdown(index=False) + "\n" if len(warned) else "No warnings.\n"))


if __name__ == "__main__":
    main()
