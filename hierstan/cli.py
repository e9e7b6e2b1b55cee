"""The ``hierstan`` command: list models, show engines, fit a model, reproduce the results."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import arviz as az
import pandas as pd

from . import __version__
from .cache import cache_dir
from .diagnostics import diagnose
from .engines import ENGINE_ENV, ENGINES, get_engine
from .errors import HierstanError
from .models import FAMILIES, get_family
from .reproduce import DEFAULT_SEED, reproduce


def _list(args: argparse.Namespace) -> None:
    for name, family in FAMILIES.items():
        variants = ", ".join(f"{v} (default)" if i == 0 else v for i, v in enumerate(family.VARIANTS))
        print(f"{name}: {family.DESCRIPTION}\n  variants: {variants}")


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


def _fit(args: argparse.Namespace) -> None:
    family = get_family(args.model)
    data = pd.read_csv(args.data) if args.data else None
    idata = family.fit(
        data,
        variant=args.variant or family.VARIANTS[0],
        engine=args.engine,
        chains=args.chains,
        draws=args.draws,
        warmup=args.warmup,
        seed=args.seed,
    )
    with pd.option_context("display.width", 120, "display.max_rows", 200):
        print(az.summary(idata, var_names=["~^z_"], filter_vars="regex"))
    print(diagnose(idata))
    if args.out:
        idata.to_netcdf(args.out)
        print(f"wrote {args.out}")


def _reproduce(args: argparse.Namespace) -> None:
    for path in reproduce(args.out, engine=args.engine, seed=args.seed, families=args.families):
        print(f"wrote {path}")


def _install_cmdstan(args: argparse.Namespace) -> None:
    import cmdstanpy

    if not cmdstanpy.install_cmdstan(version=args.version, dir=args.dir, progress=True):
        raise SystemExit("hierstan: CmdStan installation failed (it downloads from GitHub)")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="hierstan", description=__doc__)
    main.add_argument("--version", action="version", version=f"hierstan {__version__}")
    commands = main.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the models and their variants").set_defaults(run=_list)
    commands.add_parser("info", help="engines found, versions, cache").set_defaults(run=_info)

    fit = commands.add_parser("fit", help="fit a model and print its summary")
    fit.add_argument("model", help="model family, e.g. eight_schools")
    fit.add_argument("--variant", help="model variant (default: the family's default)")
    fit.add_argument("--data", type=Path, help="CSV file (default: the shipped data)")
    fit.add_argument("--chains", type=int, default=4)
    fit.add_argument("--draws", type=int, default=1000)
    fit.add_argument("--warmup", type=int, default=1000)
    fit.add_argument("--seed", type=int, default=None)
    fit.add_argument("--out", type=Path, help="write the InferenceData to this netCDF file")
    fit.set_defaults(run=_fit)

    again = commands.add_parser("reproduce", help="regenerate every result into a folder")
    again.add_argument("--out", type=Path, default=Path("results"))
    again.add_argument("--seed", type=int, default=DEFAULT_SEED)
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        from .bench.run import main as bench

        bench(argv[1:])
        return 0
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except HierstanError as exc:
        print(f"hierstan: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
