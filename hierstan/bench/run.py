"""hierstan against PyMC and nutpie, side by side, and how the cost grows with the data.

Usage: hierstan bench [--models ...] [--engines ...] [--reps 2] [--scaling] [--out results/bench]
(``python scripts/benchmark.py`` is the same). Needs the ``bench`` extra for PyMC and nutpie.

Every measurement runs in a fresh Python process (``--worker SPEC``), so each build starts from
the state it claims (cold: an empty compile cache; cached: the shared one) and the peak memory
is that run's own (the largest process of the run, chains' worker processes included, from
``wait4``). Engines alternate within each repetition; every engine fits the same Stan data dict
(the PyMC models are built from it: ``hierstan.bench.pymc_models``) with the same NUTS target
acceptance rate (the model's hierstan default), chains, warmup and draws.

Measured per run: build (a cache load; ``build_cold_s``: a compile into empty caches), sampling
wall time (warmup and draws; PyMC's own ``sampling_time``, which leaves out its graph
compilation), gradient evaluations (leapfrog steps of the kept draws), minimum bulk ESS and
maximum R-hat over the variables all engines share, divergences, and the time per gradient: a
second run with the same seed and one draw gives the warmup's cost, so (full - warmup) x
parallel chains / gradients is the all-in cost of one gradient in the sampling phase (sampler
and output overhead included).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

STAN_ENGINES = ("cmdstan", "native")
ENGINES = (*STAN_ENGINES, "pymc", "nutpie")
# model key: (family, stan_data arguments); the main variant of each family
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "eight_schools": ("eight_schools", {"parameterization": "noncentered"}),
    # the PyMC versions take one form for every group: the forms these fits had before "auto"
    "radon": ("radon", {"variant": "varying_intercept_slope", "parameterization": "noncentered"}),
    "thai": ("thai", {"variant": "random_slope", "parameterization": "noncentered"}),
    "exam": ("exam", {"variant": "lkj"}),
    "mathtest": ("mathtest", {"parameterization": "centered"}),
}
# variables named and shaped alike in the Stan and the PyMC posteriors: the parameters,
# hyper-parameters and group-level effects whose ESS, R-hat and means are compared
COMPARED: dict[str, list[str]] = {
    "eight_schools": ["mu", "tau", "theta"],
    "radon": ["mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "sigma_y", "alpha", "beta"],
    "thai": ["mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "alpha", "beta"],
    "exam": ["gamma", "beta", "theta", "phi", "tau"],
    "mathtest": ["mu", "lambda", "omega", "theta"],
}
CORES = os.cpu_count() or 1


@dataclass
class Spec:
    """One measurement, as passed to a worker process."""

    model: str
    engine: str
    seed: int = 1
    chains: int = 4
    draws: int = 1000
    warmup: int = 1000
    mode: str = "sample"  # "sample" or "build" (build only, into an empty cache)
    pointwise: bool = False  # the program writes per-row log_lik and y_rep (Stan engines only)
    likelihood: str | None = None  # radon / thai: "cells" or the per-row form
    simulate: dict[str, int] | None = None  # radon.simulate arguments instead of the shipped data
    parameterization: str | None = None  # radon: "centered" for data-rich counties
    label: str = ""


def stan_data(spec: Spec):
    from ..models import get_family

    family_name, arguments = MODELS[spec.model]
    family = get_family(family_name)
    arguments = dict(arguments)
    if spec.likelihood:
        arguments["likelihood"] = spec.likelihood
    if spec.parameterization:
        arguments["parameterization"] = spec.parameterization
    frame = family.simulate(**spec.simulate)[0] if spec.simulate else None
    return family.prepare(frame, **arguments).with_data(pointwise=int(spec.pointwise))


# ---------------------------------------------------------------------------------------------
# worker side: one fit, reported as JSON on stdout


def _summaries(draws: dict[str, np.ndarray]) -> dict[str, Any]:
    """Min bulk ESS, max R-hat, and per-variable means and MCSEs of (chain, draw, ...) arrays."""
    import arviz as az

    dataset = az.convert_to_dataset({k: np.asarray(v, dtype=float) for k, v in draws.items()})
    ess, rhat, mcse = az.ess(dataset), az.rhat(dataset), az.mcse(dataset)
    return {
        "ess_bulk_min": min(float(ess[k].min()) for k in draws),
        "rhat_max": max(float(rhat[k].max()) for k in draws),
        "means": {k: dataset[k].mean(("chain", "draw")).values.ravel().tolist() for k in draws},
        "mcse": {k: mcse[k].values.ravel().tolist() for k in draws},
    }


def _run_stan(spec: Spec, prepared, compared: list[str]) -> dict[str, Any]:
    from ..engines import SamplerSettings, get_engine
    from ..programs import load_program

    engine = get_engine(spec.engine)
    short = spec.mode == "build"
    settings = SamplerSettings(chains=1 if short else spec.chains, draws=10 if short else spec.draws,
                               warmup=10 if short else spec.warmup, seed=spec.seed,
                               adapt_delta=prepared.adapt_delta, progress=False)
    raw = engine.sample(load_program(prepared.program), prepared.data, settings)
    result = {"build_s": raw.seconds["build"], "compiled_now": raw.compiled_now,
              "engine_version": raw.engine_version}
    if short:
        return result
    stats = raw.sampler
    # the warmup's gradients where the engine counts them (hierstan's warmup; not Stan's service)
    counted = raw.warmup.get("gradients")
    if counted is not None and np.all(counted >= 0):
        result["warmup_gradients"] = int(counted.sum())
    return {**result, "sample_s": raw.seconds["sample"], "gradients": int(stats["n_leapfrog__"].sum()),
            "divergences": int(stats["divergent__"].sum()),
            "treedepth_hits": int((stats["treedepth__"] >= settings.max_treedepth).sum()),
            "draws": {k: raw.variables[k] for k in compared}}


def _run_pymc(spec: Spec, prepared, compared: list[str]) -> dict[str, Any]:
    import pymc as pm

    from . import pymc_models

    start = time.perf_counter()
    model = pymc_models.build(spec.model, prepared.data)
    common = {"draws": spec.draws, "tune": spec.warmup, "chains": spec.chains,
              "target_accept": prepared.adapt_delta}
    if spec.engine == "nutpie":
        import nutpie

        compiled = nutpie.compile_pymc_model(model)
        built = time.perf_counter()
        result = {"build_s": built - start, "engine_version": f"nutpie {nutpie.__version__}"}
        if spec.mode == "build":
            return result
        idata = nutpie.sample(compiled, seed=spec.seed, cores=min(spec.chains, CORES),
                              progress_bar=False, save_warmup=True, **common)
        sample_s = time.perf_counter() - built
    else:
        with model:
            model.logp_dlogp_function()  # the compilation pm.sample would do first
        result = {"build_s": time.perf_counter() - start, "engine_version": f"pymc {pm.__version__}"}
        if spec.mode == "build":
            return result
        with model:
            idata = pm.sample(random_seed=spec.seed, cores=min(spec.chains, CORES), progressbar=False,
                              compute_convergence_checks=False, discard_tuned_samples=False, **common)
        sample_s = float(idata.sample_stats.attrs["sampling_time"])
    stats = idata.sample_stats
    steps = stats["n_steps"]
    if "warmup_sample_stats" in idata.groups():
        result["warmup_gradients"] = int(idata.warmup_sample_stats["n_steps"].sum())
    return {**result, "sample_s": sample_s, "gradients": int(steps.sum()),
            "divergences": int(stats["diverging"].sum()),
            "treedepth_hits": int(stats["maxdepth_reached" if "maxdepth_reached" in stats
                                        else "reached_max_treedepth"].sum()),
            "draws": {k: idata.posterior[k].values for k in compared}}


def worker(spec: Spec) -> dict[str, Any]:
    import logging

    logging.getLogger("pymc").setLevel(logging.ERROR)
    prepared = stan_data(spec)
    compared = COMPARED[spec.model]
    run = _run_stan if spec.engine in STAN_ENGINES else _run_pymc
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore")
        result = run(spec, prepared, compared)
    if "draws" in result:
        result.update(_summaries(result.pop("draws")))
    return result


# ---------------------------------------------------------------------------------------------
# runner side


def measure(spec: Spec, env: dict[str, str] | None = None, timeout: float = 1800) -> dict[str, Any]:
    """Run ``spec`` in a fresh process; its result plus wall time and peak memory (MiB)."""
    command = [sys.executable, "-m", "hierstan.bench.run", "--worker", json.dumps(asdict(spec))]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env={**os.environ, **(env or {})})
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                os.wait4(process.pid, 0)
                return {"error": f"timed out after {timeout:.0f} s"}
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        lines = out.read().decode().strip().splitlines()
        if process.returncode != 0 or not lines:
            tail = err.read().decode().strip().splitlines()[-3:]
            return {"error": " | ".join(tail)[-300:] or f"exit code {process.returncode}"}
    result = json.loads(lines[-1])
    result["process_s"] = time.perf_counter() - started
    result["peak_mib"] = usage.ru_maxrss / 1024  # Linux: KiB, largest process of the run
    return result


def _row(spec: Spec, result: dict[str, Any], rep: int, warmup_s: float | None) -> dict[str, Any]:
    row = {"model": spec.model, "engine": spec.label or spec.engine, "rep": rep}
    if "error" in result:
        return {**row, "error": result["error"]}
    row.update({k: result.get(k) for k in ("build_s", "sample_s", "gradients", "divergences",
                                           "treedepth_hits", "rhat_max", "ess_bulk_min", "peak_mib",
                                           "warmup_gradients")})
    row["warmup_s"] = warmup_s
    if result.get("ess_bulk_min") is not None:
        row["ess_per_s"] = result["ess_bulk_min"] / result["sample_s"]
        # the sampler's efficiency apart from the engine's speed
        row["ess_per_1k_gradients"] = 1000 * result["ess_bulk_min"] / result["gradients"]
    # a difference of two noisy times: not measured when the short run took as long as the full
    if warmup_s is not None and result.get("gradients") and result["sample_s"] > warmup_s:
        parallel = min(spec.chains, CORES)
        row["us_per_gradient"] = 1e6 * (result["sample_s"] - warmup_s) * parallel / result["gradients"]
    return row


def _timed_fit(spec: Spec, rep: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fit, and a same-seed run with one draw that prices the warmup."""
    result = measure(spec)
    warmup_s = None
    if "error" not in result:
        warm = measure(Spec(**{**asdict(spec), "draws": 1}))
        warmup_s = warm.get("sample_s")
    return _row(spec, result, rep, warmup_s), result


def _cold_build(spec: Spec) -> float | None:
    """Build time of the program into empty caches (hierstan's, PyTensor's), deleted afterwards.
    As CmdStan's own libraries, the native engine's once-per-install pieces (driver object,
    precompiled header: ``toolchain_build_s`` in the report) are taken as built."""
    with tempfile.TemporaryDirectory(prefix="hierstan-cold-") as folder:
        env = {"HIERSTAN_CACHE_DIR": folder, "PYTENSOR_FLAGS": f"compiledir={folder}/pytensor"}
        if spec.engine == "native":
            _share_native_toolchain(Path(folder))
        result = measure(Spec(**{**asdict(spec), "mode": "build"}), env=env)
    return result.get("build_s")


def _toolchain_build() -> float:
    with tempfile.TemporaryDirectory(prefix="hierstan-cold-") as folder:
        done = subprocess.run([sys.executable, "-c", "from hierstan.engines import native_build; "
                               "print(native_build.prepare_toolchain())"], capture_output=True, text=True,
                              env={**os.environ, "HIERSTAN_CACHE_DIR": folder}, check=True)
    return float(done.stdout.split()[-1])


def _share_native_toolchain(folder: Path) -> None:
    from ..cache import cache_dir
    from ..engines import native_build

    native_build.prepare_toolchain()
    (folder / "native").mkdir()
    for built in (cache_dir() / "native").glob("*-" + native_build.toolchain().key()):
        (folder / "native" / built.name).symlink_to(built)


def available(engines: list[str]) -> list[str]:
    """The engines of ``engines`` that can run here (PyMC and nutpie need the bench extra)."""
    import importlib.util

    from ..engines import ENGINES as STAN

    found = []
    for name in engines:
        if name in STAN_ENGINES:
            ok = STAN[name].available()
        else:
            ok = importlib.util.find_spec("pymc") is not None and importlib.util.find_spec(name) is not None
        if ok:
            found.append(name)
        else:
            print(f"hierstan bench: {name} is not available here, skipped", file=sys.stderr)
    return found


def _specs(model: str, engines: list[str], seed: int) -> list[Spec]:
    specs = [Spec(model=model, engine=e, seed=seed) for e in engines]
    specs += [Spec(model=model, engine=e, seed=seed, pointwise=True, label=f"{e}+pointwise")
              for e in engines if e in STAN_ENGINES]
    return specs


def benchmark(models: list[str], engines: list[str], reps: int, log=print) -> tuple[pd.DataFrame, dict]:
    rows, means = [], {}
    for rep in range(1, reps + 1):
        for model in models:
            for spec in _specs(model, engines, seed=rep):
                cold = None if spec.pointwise else _cold_build(spec)
                if rep == 1:  # fill the shared cache, so build_s is a cached build in every rep
                    measure(Spec(**{**asdict(spec), "mode": "build"}))
                row, result = _timed_fit(spec, rep)
                row["build_cold_s"] = cold
                rows.append(row)
                means[(model, row["engine"], rep)] = result
                log(f"rep {rep} {model} {row['engine']}: " + ", ".join(
                    f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                    if k not in ("model", "engine", "rep")))
    table = pd.DataFrame(rows)
    table["max_z_vs_native"] = [_agreement(means, r.model, r.engine, r.rep) for r in table.itertuples()]
    return table, means


def _agreement(results: dict, model: str, engine: str, rep: int) -> float | None:
    """Largest |difference of posterior means| / combined MCSE against the native engine's run of the same
    repetition, over every shared variable (about 3 expected by chance over ~200 variables)."""
    mine, reference = results.get((model, engine, rep), {}), results.get((model, "native", rep), {})
    if "means" not in mine or "means" not in reference or engine == "native":
        return None
    z = [np.abs(np.subtract(mine["means"][k], reference["means"][k]))
         / np.hypot(mine["mcse"][k], reference["mcse"][k]) for k in mine["means"]]
    return float(np.max(np.concatenate(z)))


SCALING_ROWS = (10_000, 100_000, 1_000_000)


def scaling(engines: list[str], rows: tuple[int, ...] = SCALING_ROWS, J: int = 1000,
            log=print) -> pd.DataFrame:
    """Radon-like data simulated from the model, 2 chains x 500/500, per engine and likelihood.
    Centered: with 10 to 1000 houses a county the data pin each county's effects, where the
    non-centered form turns into a narrow ridge that needs deep trees."""
    table = []
    for n in rows:
        for likelihood in ("cells", "houses"):
            for engine in engines:
                spec = Spec(model="radon", engine=engine, chains=2, draws=500, warmup=500,
                            likelihood=likelihood, simulate={"J": J, "N": n, "seed": 1},
                            parameterization="centered",
                            label=engine)
                row, _ = _timed_fit(spec, rep=1)
                row.update({"rows": n, "counties": J, "likelihood": likelihood})
                table.append(row)
                log(f"scaling N={n} {likelihood} {engine}: us/gradient={row.get('us_per_gradient')}, "
                    f"ESS/s={row.get('ess_per_s')}, error={row.get('error')}")
    return pd.DataFrame(table)


def scaling_plot(table: pd.DataFrame, path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4.2), layout="constrained")
    axes = figure.subplots(1, 2)
    measured = table.dropna(subset=["us_per_gradient"])
    for (engine, likelihood), part in measured.groupby(["engine", "likelihood"]):
        style = "-" if likelihood == "cells" else "--"
        for ax, column in zip(axes, ("us_per_gradient", "ess_per_s")):
            ax.plot(part["rows"], part[column], style, marker="o", label=f"{engine}, {likelihood}")
    axes[0].set(ylabel="microseconds per gradient (all-in)", title="Cost of one gradient")
    axes[1].set(ylabel="min bulk ESS per second", title="Sampling efficiency")
    for ax in axes:
        ax.set(xscale="log", yscale="log", xlabel="rows N (J = 1000 counties)")
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=8)
    figure.savefig(path, dpi=110)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory = f", {int(Path('/proc/meminfo').read_text().split()[1]) / 2**20:.0f} GiB memory"
    packages = []
    names = ("hierstan", "numpy", "arviz", "httpstan", "cmdstanpy", "pymc", "pytensor", "nutpie")
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            packages.append(f"{name} {metadata.version(name)}")
    from ..engines import CmdStanEngine

    if CmdStanEngine.available():
        packages.append(CmdStanEngine.version())
    return (f"{platform.system()} {platform.release()}, {cpu}, {CORES} cores{memory}; Python "
            f"{platform.python_version()}; " + ", ".join(packages))


def ratios(medians: pd.DataFrame) -> pd.DataFrame:
    """Per model: each engine's ESS/s over nutpie's, and the native engine's costs over CmdStan's."""
    wide = medians.pivot(index="model", columns="engine")
    out = pd.DataFrame(index=wide.index)
    engines = medians["engine"].unique()
    if ("ess_per_s", "nutpie") in wide.columns:
        for engine in engines:
            if engine != "nutpie" and ("ess_per_s", engine) in wide.columns:
                out[f"ESS/s {engine} / nutpie"] = wide["ess_per_s", engine] / wide["ess_per_s", "nutpie"]
    for column in ("us_per_gradient", "sample_s", "build_s"):
        # an engine whose every run failed has no column to divide
        if {(column, "native"), (column, "cmdstan")} <= set(wide.columns):
            out[f"{column} native / cmdstan"] = wide[column, "native"] / wide[column, "cmdstan"]
    return out.reset_index()


def _markdown(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, floatfmt=".4g") + "\n"


BENCH_COLUMNS = ["model", "engine", "build_cold_s", "build_s", "sample_s", "warmup_s", "warmup_gradients",
                 "gradients", "us_per_gradient",
                 "ess_bulk_min", "ess_per_s", "ess_per_1k_gradients", "divergences", "treedepth_hits",
                 "rhat_max", "max_z_vs_native", "peak_mib"]


def write_benchmark(table: pd.DataFrame, out: Path, header: str, seconds: float) -> None:
    """benchmark.csv (every run) and benchmark.md (medians, ratios, every run)."""
    table.to_csv(out / "benchmark.csv", index=False)
    medians = (table.drop(columns="rep").groupby(["model", "engine"], sort=False)
               .median(numeric_only=True).reset_index())
    (out / "benchmark.md").write_text(
        "# hierstan vs PyMC and nutpie: 4 chains x 1000 draws (+1000 warmup)\n\n" + header
        + f"Run time {seconds:.0f} s. `engine+pointwise`: the Stan program writes per-row "
        "log_lik and y_rep; the other Stan rows leave them out, as the PyMC models do (fits compute "
        "them in numpy after sampling, outside these times). "
        "See `hierstan/bench/run.py` for what each column measures.\n\n## Medians over repetitions\n\n"
        + _markdown(medians.reindex(columns=BENCH_COLUMNS).dropna(axis=1, how="all"))
        + "\n## Ratios of the medians\n\n" + _markdown(ratios(medians))
        + "\n## Every run\n\n" + _markdown(table))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="hierstan bench", description=__doc__.replace("``", "`"),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--scaling", action="store_true", help="also run the scaling study")
    parser.add_argument("--scaling-only", action="store_true", help="only the scaling study")
    parser.add_argument("--scaling-rows", type=int, nargs="+", default=list(SCALING_ROWS))
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(Spec(**json.loads(args.worker)))))
        return
    engines = available(args.engines)
    args.out.mkdir(parents=True, exist_ok=True)
    header = f"Machine: {machine()}\n\nCommand: `hierstan bench {' '.join(argv or sys.argv[1:])}`\n\n"
    if "native" in engines:
        header += (f"The native engine's once-per-install build (driver object and precompiled header, "
                   f"into an empty cache): {_toolchain_build():.0f} s; `build_cold_s` leaves it out.\n\n")
    if not args.scaling_only:
        started = time.perf_counter()
        table, _ = benchmark(args.models, engines, args.reps)
        write_benchmark(table, args.out, header, time.perf_counter() - started)
    if args.scaling or args.scaling_only:
        started = time.perf_counter()
        table = scaling(engines, tuple(args.scaling_rows))
        table.to_csv(args.out / "scaling.csv", index=False)
        scaling_plot(table, args.out / "scaling.png")
        columns = ["rows", "likelihood", "engine", "build_s", "sample_s", "gradients", "us_per_gradient",
                   "ess_bulk_min", "ess_per_s", "divergences", "rhat_max", "peak_mib"]
        (args.out / "scaling.md").write_text(
            "# Scaling: radon-like data simulated from the model, J = 1000 counties, "
            "2 chains x 500 draws (+500 warmup)\n\n" + header
            + f"Run time {time.perf_counter() - started:.0f} s.\n\n"
            + _markdown(table.reindex(columns=[*columns, "error"]).dropna(axis=1, how="all")))


if __name__ == "__main__":
    main()
