"""Exam lkj: the sampler on standardised predictors against the model as written.

Usage: python scripts/time_exam_standardisation.py [--engine auto|native|cmdstan] [--reps 1]
       [--variant lkj] [--out results/bench]

Both runs use the same program (the data flag `standardise`), 4 chains x 1000 draws (+1000
warmup) and the family's adapt_delta, alternating within each repetition. Reported per run:
sampling wall time, leapfrog steps (gradient evaluations) per kept draw, draws at the maximum
tree depth, divergences, minimum bulk ESS over the population quantities and ESS per second.
"""

import argparse
import time
import warnings
from pathlib import Path

import arviz as az
import pandas as pd

import hierstan
from hierstan.models import exam

FORMS = {"standardised": True, "as written": False}


def _row(form: str, rep: int, args) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = exam.fit(variant=args.variant, standardise=FORMS[form], engine=args.engine, seed=rep,
                         progress=False)
    report = hierstan.diagnose(idata)
    steps = idata.sample_stats["n_steps"]
    seconds = idata.posterior.attrs["sampling_seconds"]
    ess = az.ess(idata, var_names=["gamma", "beta", "tau", "theta", "phi"])
    ess_min = min(float(ess[name].min()) for name in ess.data_vars)
    return {"form": form, "rep": rep, "sampling_s": round(seconds, 1),
            "steps_per_draw": round(float(steps.mean()), 1), "gradients": int(steps.sum()),
            "treedepth_hits": report.treedepth_hits, "divergences": report.divergences,
            "rhat_max": round(report.rhat_max, 3), "ess_bulk_min": round(ess_min),
            "ess_bulk_min_per_s": round(ess_min / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--variant", default="lkj", choices=exam.VARIANTS)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    args = parser.parse_args()
    started = time.perf_counter()
    table = pd.DataFrame([_row(form, rep, args) for rep in range(1, args.reps + 1) for form in FORMS])
    engine = hierstan.get_engine(args.engine)
    command = f"python scripts/time_exam_standardisation.py --reps {args.reps}"
    text = (f"# Exam {args.variant}: standardised predictors vs the model as written\n\n"
            f"Engine {engine.name} {engine.version()}; one run of `{command}` "
            f"({time.perf_counter() - started:.0f} s, compilation included). 4 x 1000 draws "
            "(+1000 warmup); ESS over gamma, beta, tau, theta and phi.\n\n"
            + table.to_markdown(index=False) + "\n")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"exam_{args.variant}_standardisation.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
