"""Radon: cost of the sufficient-statistic (cells) likelihood against the per-house one.

Usage: python scripts/time_radon_likelihood.py [--engine auto|pystan|cmdstan] [--reps 2]
       [--variant varying_intercept_slope] [--out results/bench]

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
from hierstan.models import radon

FORMS = ("cells", "houses")
SHORT, LONG = 100, 1100
logging.getLogger("arviz").setLevel(logging.ERROR)  # one-chain runs: R-hat is not wanted here


def _fit(form: str, args, **settings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return radon.fit(variant=args.variant, likelihood=form, engine=args.engine, progress=False,
                         **settings)


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
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--variant", default="varying_intercept_slope")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    args = parser.parse_args()
    for form in FORMS:  # compile (or load) both programs before any timing
        _fit(form, args, chains=1, draws=10, warmup=10)
    started = time.perf_counter()
    sampling = pd.DataFrame([_sampling_row(f, rep, args) for rep in range(1, args.reps + 1) for f in FORMS])
    gradients = pd.DataFrame([_gradient_row(f, rep, args) for rep in range(1, args.reps + 1) for f in FORMS])
    medians = pd.concat([sampling.groupby("form")[["sampling_s", "ess_bulk_min_per_s"]].median(),
                         gradients.groupby("form")[["us_per_gradient", "us_per_draw_overhead"]].median()],
                        axis=1)
    ratio = medians.loc["houses"] / medians.loc["cells"]
    engine = hierstan.get_engine(args.engine)
    text = (
        f"# Radon {args.variant}: cells vs per-house likelihood\n\n"
        f"Engine {engine.name} {engine.version()}; numbers from one run of "
        f"`python scripts/time_radon_likelihood.py --reps {args.reps}` "
        f"({time.perf_counter() - started:.0f} s). 919 houses, 145 (county, floor) cells.\n\n"
        "## Sampling, 4 x 1000 (+1000 warmup), seeds 1..reps\n\n" + _markdown(sampling)
        + "\n## Time per gradient (one chain, difference method; see the script's docstring)\n\n"
        + _markdown(gradients)
        + "\n## Medians and houses / cells ratio\n\n"
        + _markdown(pd.concat([medians, ratio.rename("houses / cells").to_frame().T]).round(2).reset_index())
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "radon_likelihood_timing.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
