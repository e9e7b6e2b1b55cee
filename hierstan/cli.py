"""The ``hierstan`` command: list models, show engines, fit a model, reproduce the results."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import arviz as az
import pandas as pd

from . import __version__
from .cache import cache_dir
from .diagnostics import HierstanWarning, diagnose
from .engines import ENGINE_ENV, ENGINES, get_engine
from .errors import DataWarning, HierstanError
from .models import FAMILIES, get_family
from .post_estimation import is_internal
from .reproduce import DEFAULT_SEED, reproduce

_default_show_warning = warnings.showwarning


def _list(args: argparse.Namespace) -> None:
    for name, family in FAMILIES.items():
        print(f"{name}: {family.description}")
        print("  variants: " + ", ".join(f"{v} (default)" if i == 0 else v
                                         for i, v in enumerate(family.variants)))
        if family.parameterizations:
            print("  parameterizations: " + ", ".join(f"{v} (default)" if i == 0 else v
                                                      for i, v in enumerate(family.parameterizations)))
        print("  columns: " + ", ".join(f"{role}={column}" for role, column in family.columns.items()))
        nested = all(isinstance(v, dict) for v in family.priors.values())  # defaults per variant
        for variant, priors in (family.priors.items() if nested else [("", family.priors)]):
            print(f"  priors{f' ({variant})' if variant else ''}: "
                  + ", ".join(f"{k}={v:g}" for k, v in priors.items()))


def _info(args: argparse.Namespace) -> None:
    print(f"hierstan {__version__}")
    for name, engine in ENGINES.items():
        if engine.available():
            state = f"{engine.version()} in {engine.location()}"
        else:
            state = f"not found ({engine.how_to_install})"
        print(f"{name}: {state}")
    try:
        chosen = get_engine("auto").name
    except HierstanError as exc:
        chosen = f"none ({exc})"
    named = f" (from ${ENGINE_ENV})" if os.environ.get(ENGINE_ENV) else ""
    print(f"engine used by default: {chosen}{named}")
    print(f"compile cache: {cache_dir()} (set HIERSTAN_CACHE_DIR to move it)")


def _pairs(items: list[str] | None, what: str, convert=str) -> dict:
    """``NAME=VALUE`` arguments as a dict (values through ``convert``)."""
    pairs = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise HierstanError(f"{what} must be NAME=VALUE, got {item!r}")
        try:
            pairs[name] = convert(value)
        except ValueError:
            raise HierstanError(f"{what} {item!r}: {value!r} is not a number") from None
    return pairs


def _shown(idata: az.InferenceData, largest: int = 20) -> list[str]:
    """The posterior variables worth printing: named parameters with at most ``largest`` values."""
    names = []
    for name, values in idata.posterior.data_vars.items():
        if not is_internal(name) and values.size // (values.sizes["chain"] * values.sizes["draw"]) <= largest:
            names.append(name)
    return names


def _fit(args: argparse.Namespace) -> None:
    family = get_family(args.model)
    data = pd.read_csv(args.data) if args.data else None
    options = {name: value for name, value in (("variant", args.variant),
                                               ("parameterization", args.parameterization),
                                               ("outcome", args.outcome), ("group", args.group))
               if value is not None}
    options.update(_pairs(args.column, "--column"))
    priors = _pairs(args.prior, "--prior", float)
    if priors:
        options["priors"] = priors
    idata = family.fit(data, engine=args.engine, chains=args.chains, draws=args.draws, warmup=args.warmup,
                       seed=args.seed, adapt_delta=args.adapt_delta, max_treedepth=args.max_treedepth,
                       threads=args.threads, **options)
    shown = _shown(idata)
    with pd.option_context("display.width", 200, "display.max_rows", 500, "display.max_columns", 20):
        print(az.summary(idata, var_names=shown))
    hidden = sorted(set(idata.posterior.data_vars) - set(shown))
    if hidden:
        print(f"(not shown: {', '.join(hidden)}; --summary FILE writes every variable)")
    print(diagnose(idata))
    if args.summary:
        az.summary(idata).to_csv(args.summary)
        print(f"wrote {args.summary}")
    if args.out:
        idata.to_netcdf(args.out)
        print(f"wrote {args.out}")


def _reproduce(args: argparse.Namespace) -> None:
    for path in reproduce(args.out, engine=args.engine, seed=args.seed, chains=args.chains,
                          draws=args.draws, warmup=args.warmup, families=args.families):
        print(f"wrote {path}")


def _install_cmdstan(args: argparse.Namespace) -> None:
    import cmdstanpy

    if not cmdstanpy.install_cmdstan(version=args.version, dir=args.dir, progress=True):
        raise SystemExit("hierstan: CmdStan installation failed (it downloads from GitHub)")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="hierstan", description=__doc__.replace("``", ""))
    main.add_argument("--version", action="version", version=f"hierstan {__version__}")
    commands = main.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the models and their variants").set_defaults(run=_list)
    commands.add_parser("info", help="engines found, versions, cache").set_defaults(run=_info)

    fit = commands.add_parser("fit", help="fit a model and print its summary",
                              description="Fit a model family to the shipped data or a CSV file. "
                                          "`hierstan list` shows the families and their variants.")
    fit.add_argument("model", help="model family, e.g. eight_schools")
    fit.add_argument("--data", type=Path, help="CSV file (default: the shipped data)")
    fit.add_argument("--variant", help="model variant (default: the family's first)")
    fit.add_argument("--parameterization", help="centered or noncentered, where the family offers both")
    fit.add_argument("--outcome", help="column of the outcome (default: the family's)")
    fit.add_argument("--group", help="column of the group labels (default: the family's)")
    fit.add_argument("--column", action="append", metavar="ROLE=NAME",
                     help="another column argument of the family, e.g. predictor=storey (repeatable)")
    fit.add_argument("--prior", action="append", metavar="NAME=VALUE",
                     help="a prior scale, e.g. tau_scale=2.5 (repeatable; `hierstan list` shows them)")
    fit.add_argument("--chains", type=int, default=4, help="chains (default: 4)")
    fit.add_argument("--draws", type=int, default=1000, help="post-warmup draws per chain (default: 1000)")
    fit.add_argument("--warmup", type=int, default=1000, help="warmup iterations per chain (default: 1000)")
    fit.add_argument("--seed", type=int, default=None, help="random seed (default: drawn and recorded)")
    fit.add_argument("--adapt-delta", type=float, default=None,
                     help="NUTS target acceptance rate (default: the model's)")
    fit.add_argument("--max-treedepth", type=int, default=10, help="NUTS maximum tree depth (default: 10)")
    fit.add_argument("--threads", type=int, default=None, help="threads (default: min(chains, cores))")
    fit.add_argument("--summary", type=Path, help="write the summary of every variable to this CSV file")
    fit.add_argument("--out", type=Path, help="write the InferenceData to this netCDF file")
    fit.set_defaults(run=_fit)

    again = commands.add_parser("reproduce", help="regenerate every result into a folder")
    again.add_argument("--out", type=Path, default=Path("results"))
    again.add_argument("--seed", type=int, default=DEFAULT_SEED)
    again.add_argument("--chains", type=int, default=4)
    again.add_argument("--draws", type=int, default=1000, help="post-warmup draws per chain")
    again.add_argument("--warmup", type=int, default=1000, help="warmup iterations per chain")
    again.add_argument("--families", nargs="+", choices=list(FAMILIES), help="only these (default: all)")
    again.set_defaults(run=_reproduce)
    for command in (fit, again):
        command.add_argument("--engine", default="auto", choices=["auto", *ENGINES])

    # listed here for --help; main() hands `bench` and its options to hierstan.bench.run
    commands.add_parser("bench", add_help=False,
                        help="time hierstan against PyMC and nutpie (the bench extra); "
                             "`hierstan bench --help` for the options")

    install = commands.add_parser("install-cmdstan", help="download and build CmdStan (GitHub)")
    install.add_argument("--version", default=None, help="CmdStan version (default: latest)")
    install.add_argument("--dir", default=None, help="install folder (default: ~/.cmdstan)")
    install.set_defaults(run=_install_cmdstan)
    return main


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """hierstan's own warnings as one line each (a command has no user code to point at)."""
    if issubclass(category, (HierstanWarning, DataWarning)):
        print(f"hierstan: warning: {message}", file=sys.stderr)
    else:
        _default_show_warning(message, category, filename, lineno, file, line)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        from .bench.run import main as bench

        bench(argv[1:])
        return 0
    args = parser().parse_args(argv)
    warnings.showwarning = _show_warning
    try:
        args.run(args)
    except HierstanError as exc:
        print(f"hierstan: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
