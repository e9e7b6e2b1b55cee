"""Centered, non-centered and automatic group effects compared, regime by regime (issue 19).

Usage:
    python scripts/parameterization.py [--regimes R ...] [--forms centered noncentered auto]
        [--seeds 1 2 ...] [--chains 4 --draws 1000 --warmup 1000] [--counties 1000]
        [--engine auto] [--out results/bench] [--name parameterization] [--quick]

Regimes: radon-like data from ``hierstan.radon.simulate`` (data seed 0, the same for every
sampler seed) with ``--counties`` counties, balanced with 2, 10, 100 or 1000 houses each
(balanced_2 ... balanced_1000) or skewed (20 houses per county on average); and the shipped data
of radon, eight_schools, thai and multigroup. Each (regime, form, seed) is one fit; the order of
the forms alternates from seed to seed so that a drift in machine load does not favour one form.
Fits go through the public family.prepare (e.g. hierstan.radon.stan_data) and hierstan.sample
without the pointwise log-likelihood and replicated outcomes that family.fit adds: those are
computed after sampling and, for a million houses, would not fit in memory.

Writes <out>/<name>.csv (every run, rewritten after each so that an interrupted run
keeps what it measured) and <out>/<name>.md (medians over seeds, and per regime whether
auto is within 10% of the better fixed form's min bulk ESS per second and free of divergences).
``--quick`` is a smoke test: 2 chains of 200 draws after 200 warmup, two regimes.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import shlex
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

import hierstan

SIMULATED = {f"balanced_{n}": n for n in (2, 10, 100, 1000)}
REAL = {"radon": "varying_intercept_slope", "eight_schools": "hierarchical", "thai": "random_slope",
        "multigroup": "hierarchical"}
REGIMES = (*SIMULATED, "skewed", *REAL)
QUICK_REGIMES = ("balanced_2", "eight_schools")
QUICK = {"chains": 2, "draws": 200, "warmup": 200}
FULL = {"chains": 4, "draws": 1000, "warmup": 1000}
SKEWED_MEAN = 20  # houses per county in the skewed regime: N = 20,000 for 1000 counties
DATA_SEED = 0
FIXED = ("centered", "noncentered")
WITHIN = 0.9  # auto passes at 90% or more of the better fixed form's min bulk ESS per second
COLUMNS = ["regime", "form", "seed", "order", "sampling_seconds", "ess_bulk_min", "ess_bulk_per_s",
           "divergences", "treedepth_hits", "rhat_max", "warnings", "centered_share",
           "parameterization_choice", "engine", "chains", "draws", "warmup", "error"]


def regime_data(name: str, counties: int) -> tuple[str, pd.DataFrame | None, dict]:
    """The family, the data (None: the family's shipped data) and the data options of a regime."""
    if name in SIMULATED:
        frame, _ = hierstan.radon.simulate(J=counties, N=counties * SIMULATED[name], design="balanced",
                                           seed=DATA_SEED)
        return "radon", frame, {"variant": "varying_intercept_slope"}
    if name == "skewed":
        frame, _ = hierstan.radon.simulate(J=counties, N=counties * SKEWED_MEAN, design="skewed",
                                           seed=DATA_SEED)
        return "radon", frame, {"variant": "varying_intercept_slope"}
    return name, None, {"variant": REAL[name]}


def run_one(family: str, data: pd.DataFrame | None, options: dict, form: str, seed: int,
            args: argparse.Namespace) -> dict:
    """One fit's measures; a hierstan error (e.g. a form the family does not offer) is recorded,
    not raised, so that one bad combination does not lose the rest of a long run."""
    row: dict = {"error": ""}
    prepare = hierstan.get_family(family).prepare
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            prepared = prepare(data, parameterization=form, **options)
            # no pointwise log_lik / y_rep: not part of sampling, and for balanced_1000 (a million
            # houses) 4000 draws of them would need tens of GB
            prepared = dataclasses.replace(prepared, rows=None)
            idata = hierstan.sample(prepared, engine=args.engine, chains=args.chains, draws=args.draws,
                                    warmup=args.warmup, seed=seed, progress=False)
        except hierstan.HierstanError as error:
            row["error"] = f"{type(error).__name__}: {error}"
            return row
    for warning in caught:
        if not issubclass(warning.category, hierstan.HierstanWarning):
            print(f"  warning: {warning.category.__name__}: {warning.message}", file=sys.stderr)
    report = hierstan.diagnose(idata)
    attrs = idata.posterior.attrs
    seconds = float(attrs["sampling_seconds"])
    # every per-group flag: radon's varying slope has its own (centered_slope)
    centered = [f for name in ("centered", "centered_slope") for f in prepared.data.get(name, [])]
    row.update(
        sampling_seconds=seconds,
        ess_bulk_min=report.ess_bulk_min,
        ess_bulk_per_s=report.ess_bulk_min / seconds,
        divergences=report.divergences,
        treedepth_hits=report.treedepth_hits,
        rhat_max=report.rhat_max,
        warnings=sum(issubclass(w.category, hierstan.HierstanWarning) for w in caught),
        centered_share=float(np.mean(centered)) if centered else np.nan,
        parameterization_choice=str(attrs.get("parameterization_choice", "")),
        engine=str(attrs.get("engine_version") or attrs.get("engine", "")),
    )
    return row


def summarise(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Medians over seeds per (regime, form), and per regime auto against the better fixed form."""
    ok = runs[runs["error"] == ""]
    numeric = ["sampling_seconds", "ess_bulk_min", "ess_bulk_per_s", "divergences", "treedepth_hits",
               "rhat_max", "warnings", "centered_share"]
    keys = ["regime", "form"]
    medians = ok.groupby(keys, sort=False)[numeric].median()
    counts = runs.groupby(keys, sort=False).agg(runs=("seed", "size"),
                                                errors=("error", lambda e: (e != "").sum()))
    table = counts.join(medians).reset_index()
    verdicts = []
    for regime, group in table.groupby("regime", sort=False):
        by_form = group.set_index("form")
        fixed = by_form.loc[[f for f in FIXED if f in by_form.index]]["ess_bulk_per_s"].dropna()
        auto_runs = ok[(ok["regime"] == regime) & (ok["form"] == "auto")]
        row = {"regime": regime, "better fixed": "", "fixed ESS/s": np.nan, "auto ESS/s": np.nan,
               "auto / better": np.nan, "auto within 10%": "n/a", "auto 0 divergences": "n/a",
               "auto choice": ""}
        if len(fixed):
            row["better fixed"], row["fixed ESS/s"] = fixed.idxmax(), fixed.max()
        if len(auto_runs):
            auto = float(auto_runs["ess_bulk_per_s"].median())
            row["auto ESS/s"] = auto
            # every seed, not the median: one divergent auto fit is a failure to report
            row["auto 0 divergences"] = "yes" if (auto_runs["divergences"] == 0).all() else "no"
            choices = auto_runs["parameterization_choice"].unique()
            row["auto choice"] = " / ".join(c for c in choices if c)
            if len(fixed):
                row["auto / better"] = auto / fixed.max()
                row["auto within 10%"] = "yes" if auto >= WITHIN * fixed.max() else "no"
        elif ((runs["regime"] == regime) & (runs["form"] == "auto")).any():
            row["auto within 10%"] = row["auto 0 divergences"] = "error"
        verdicts.append(row)
    return table, pd.DataFrame(verdicts)


def write_markdown(path: Path, runs: pd.DataFrame, args: argparse.Namespace, command: str) -> None:
    table, verdicts = summarise(runs)
    engines = ", ".join(sorted(e for e in runs["engine"].dropna().unique() if e))
    header = [
        "# Parameterization benchmark (issue 19)",
        "",
        f"- machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} cores",
        f"- hierstan {hierstan.__version__}, engine {engines or args.engine}, "
        f"Python {platform.python_version()}",
        f"- chains {args.chains}, draws {args.draws}, warmup {args.warmup}; "
        f"seeds {' '.join(map(str, args.seeds))}; simulated regimes with {args.counties} counties "
        f"(data seed {DATA_SEED})",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- command: `{command}`",
        "",
        "Medians over seeds. ESS is the minimum bulk ESS over the user-facing parameters "
        "(hierstan.diagnose); ESS/s divides it by the sampling seconds (warmup included). "
        "centered_share: fraction of group flags centered. errors: runs that raised (not in the "
        "medians).",
        "",
    ]
    shown = table.rename(columns={"sampling_seconds": "seconds", "ess_bulk_min": "min bulk ESS",
                                  "ess_bulk_per_s": "ESS/s", "treedepth_hits": "treedepth hits",
                                  "rhat_max": "max R-hat"})
    body = [shown.to_markdown(index=False, floatfmt=".3g"), "",
            "## Auto against the better fixed form", "",
            f"within 10%: auto's median ESS/s at least {WITHIN:.0%} of the better fixed form's; "
            "0 divergences: in every seed.", "",
            verdicts.to_markdown(index=False, floatfmt=".3g"), ""]
    path.write_text("\n".join(header + body))


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regimes", nargs="+", choices=REGIMES, help="default: all (quick: two)")
    parser.add_argument("--forms", nargs="+", default=["centered", "noncentered", "auto"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1], help="sampler seeds")
    parser.add_argument("--chains", type=int)
    parser.add_argument("--draws", type=int)
    parser.add_argument("--warmup", type=int)
    parser.add_argument("--counties", type=int, default=1000, help="counties of the simulated regimes")
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    parser.add_argument("--name", default="parameterization",
                        help="file name stem of the CSV and markdown written into --out")
    parser.add_argument("--quick", action="store_true",
                        help="2 chains x 200 draws (+200 warmup), two regimes")
    args = parser.parse_args(argv)
    # explicit settings win over --quick's
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.regimes is None:
        args.regimes = list(QUICK_REGIMES if args.quick else REGIMES)
    return args


def main(argv: list[str] | None = None, log: Callable[[str], None] | None = None) -> pd.DataFrame:
    argv = sys.argv[1:] if argv is None else list(argv)
    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    args = parse(argv)
    command = shlex.join(["python", "scripts/parameterization.py", *argv])
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = args.out / f"{args.name}.csv", args.out / f"{args.name}.md"
    total = len(args.regimes) * len(args.seeds) * len(args.forms)
    rows: list[dict] = []
    started = time.perf_counter()
    for regime in args.regimes:
        family, data, options = regime_data(regime, args.counties)
        for index, seed in enumerate(args.seeds):
            forms = args.forms if index % 2 == 0 else args.forms[::-1]
            for order, form in enumerate(forms):
                log(f"[{len(rows) + 1}/{total}] {regime} {form} seed {seed} ...")
                row = run_one(family, data, options, form, seed, args)
                row = {"regime": regime, "form": form, "seed": seed, "order": order,
                       "chains": args.chains, "draws": args.draws, "warmup": args.warmup, **row}
                rows.append(row)
                if row["error"]:
                    log(f"    error: {row['error']}")
                else:
                    log(f"    {row['sampling_seconds']:.1f} s, min bulk ESS {row['ess_bulk_min']:.0f} "
                        f"({row['ess_bulk_per_s']:.1f}/s), {row['divergences']} divergences, "
                        f"{row['treedepth_hits']} tree-depth hits, max R-hat {row['rhat_max']:.3f}"
                        + (f", auto: {row['parameterization_choice']}" if form == "auto" else ""))
                pd.DataFrame(rows).reindex(columns=COLUMNS).to_csv(csv_path, index=False)
    runs = pd.DataFrame(rows).reindex(columns=COLUMNS)
    write_markdown(md_path, runs, args, command)
    log(f"done in {time.perf_counter() - started:.0f} s: {csv_path}, {md_path}")
    return runs


if __name__ == "__main__":
    main()
