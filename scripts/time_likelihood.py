"""Cost of a family's aggregated (cells) likelihood against the row-by-row one.

Usage: python scripts/time_likelihood.py [--family radon|thai] [--engine auto|native|cmdstan]
       [--reps 2] [--variant NAME] [--out results/bench]

Radon: cells of (county, floor) vs houses; Thai: cells of (school, covariate pattern) vs pupils,
without per-pupil generated quantities in the program (fits compute them in numpy afterwards).

Two measurements, the forms alternating within each repetition, programs compiled beforehand:

1. Sampling: 4 chains x 1000 draws (+1000 warmup), the model's defaults; wall time of sampling
   alone, leapfrog steps (= gradient evaluations) of the kept draws, divergences, min bulk ESS.
2. Time per gradient. Sampling time also pays a per-draw cost (generated quantities: per-house
   log_lik and y_rep, and writing them out) that the two forms share. One chain is run twice with
   the same seed, 100 and 1100 draws: the first 100 draws are identical (checked), so the extra
   time is 1000 draws' cost plus their leapfrog steps' cost. Doing that at adapt_delta 0.8 and
   0.99 (different steps per draw) gives two equations, solved for the time per gradient and the
   time per draw of each form.
"""

import argparse
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import hierstan
from hierstan.models import radon, thai

# family: module, the two likelihood forms (aggregated first), default variant, extra settings
FAMILIES = {"radon": (radon, ("cells", "houses"), "varying_intercept_slope", {}),
            "thai": (thai, ("cells", "pupils"), "random_slope", {})}
SHORT, LONG = 100, 1100
logging.getLogger("arviz").setLevel(logging.ERROR)  # one-chain runs: R-hat is not wanted here


def _fit(form: str, args, **settings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module, _, _, extra = FAMILIES[args.family]
        return module.fit(variant=args.variant, likelihood=form, engine=args.engine, progress=False,
                          **extra, **settings)


def _sampling_row(form: str, rep: int, args) -> dict:
    idata = _fit(form, args, seed=rep)
    report = hierstan.diagnose(idata)
    steps = int(idata.sample_stats["n_steps"].sum())
    seconds = idata.posterior.attrs["sampling_seconds"]
    return {"form": form, "rep": rep, "sampling_s": round(seconds, 2), "leapfrog_steps": steps,
            "steps_per_draw": round(steps / report.draws, 1), "divergences": report.divergences,
            "ess_bulk_min": round(report.ess_bulk_min),
            "ess_bulk_min_per_s": round(report.ess_bulk_min / seconds)}


def _extra(form: str, rep: int, adapt_delta: float, args) -> tuple[float, int]:
    """Seconds and leapfrog steps of draws SHORT+1..LONG of one chain."""
    runs = [_fit(form, args, seed=rep, chains=1, draws=n, adapt_delta=adapt_delta) for n in (SHORT, LONG)]
    steps = [r.sample_stats["n_steps"].values.ravel() for r in runs]
    if not np.array_equal(steps[0], steps[1][:SHORT]):
        raise RuntimeError("same seed gave different draws; the difference method does not apply")
    seconds = [r.posterior.attrs["sampling_seconds"] for r in runs]
    return seconds[1] - seconds[0], int(steps[1][SHORT:].sum())


def _gradient_row(form: str, rep: int, args) -> dict:
    (t1, g1), (t2, g2) = (_extra(form, rep, delta, args) for delta in (0.8, 0.99))
    draws = LONG - SHORT
    per_gradient, per_draw = np.linalg.solve([[g1, draws], [g2, draws]], [t1, t2])
    return {"form": form, "rep": rep, "steps_per_draw_0.8": round(g1 / draws, 1),
            "steps_per_draw_0.99": round(g2 / draws, 1), "us_per_gradient": round(per_gradient * 1e6, 2),
            "us_per_draw_overhead": round(per_draw * 1e6), "us_per_step_all_in": round(t2 / g2 * 1e6, 2)}


def _markdown(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", choices=FAMILIES, default="radon")
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--variant", help="default: the family's main variant")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    args = parser.parse_args()
    _, forms, default_variant, _ = FAMILIES[args.family]
    args.variant = args.variant or default_variant
    for form in forms:  # compile (or load) both programs before any timing
        _fit(form, args, chains=1, draws=10, warmup=10)
    started = time.perf_counter()
    sampling = pd.DataFrame([_sampling_row(f, rep, args) for rep in range(1, args.reps + 1) for f in forms])
    gradients = pd.DataFrame([_gradient_row(f, rep, args) for rep in range(1, args.reps + 1) for f in forms])
    medians = pd.concat([sampling.groupby("form")[["sampling_s", "ess_bulk_min_per_s"]].median(),
                         gradients.groupby("form")[["us_per_gradient", "us_per_draw_overhead"]].median()],
                        axis=1)
    ratio = medians.loc[forms[1]] / medians.loc["cells"]
    engine = hierstan.get_engine(args.engine)
    module = FAMILIES[args.family][0]
    data = module.stan_data(variant=args.variant).data
    rows, cells = data["N"], data["C"] if "C" in data else data["K"]  # radon calls its cells K
    text = (
        f"# {args.family} {args.variant}: cells vs per-row likelihood\n\n"
        f"Engine {engine.name} {engine.version()}; numbers from one run of "
        f"`python scripts/time_likelihood.py --family {args.family} --reps {args.reps}` "
        f"({time.perf_counter() - started:.0f} s). {rows} {forms[1]}, {cells} cells.\n\n"
        "## Sampling, 4 x 1000 (+1000 warmup), seeds 1..reps\n\n" + _markdown(sampling)
        + "\n## Time per gradient (one chain, difference method; see the script's docstring)\n\n"
        + _markdown(gradients)
        + f"\n## Medians and {forms[1]} / cells ratio\n\n"
        + _markdown(pd.concat([medians, ratio.rename(f"{forms[1]} / cells").to_frame().T])
                    .round(2).reset_index())
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.family}_likelihood_timing.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
