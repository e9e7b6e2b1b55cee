"""The ``hierstan`` command: list models, show engines, fit a model, calibrate and cross-validate it,
reproduce the results."""

# Exit codes (main() maps every exception to one, in one place): 0 done; 2 usage and data
# errors (argparse's own, --data, --out, DataError, UnknownNameError), decided before any
# compile; 1 the run failed (SamplingError, EngineUnavailableError, CacheError, other I/O);
# 130 interrupted (Ctrl-C), as a shell reports a process killed by SIGINT.

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

import arviz as az
import pandas as pd

from . import __version__
from .cache import cache_dir
from .diagnostics import HierstanWarning, diagnose, quiet_arviz
from .engines import ENGINE_ENV, ENGINES, get_engine
from .engines.base import ADAPTATIONS, METRICS
from .errors import CacheError, DataError, DataWarning, HierstanError, UnknownNameError
from .files import netcdf_bytes, write_whole
from .models import FAMILIES, get_family
from .post_estimation import is_internal
from .progress import say
from .reporting import KFOLD_K, SBC_SIMS
from .reproduce import DEFAULT_SEED, reproduce
from .validation import listed

_default_show_warning = warnings.showwarning

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class UsageError(HierstanError, ValueError):
    """A command line hierstan cannot act on (an option's value, an output path)."""


_USAGE_ERRORS = (UsageError, DataError, UnknownNameError)


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
    try:
        folder = cache_dir()
    except CacheError as exc:
        print(f"compile cache: unusable: {exc}")
        return
    state = "" if os.access(folder, os.W_OK | os.X_OK) else "read-only: serves programs built in it; "
    print(f"compile cache: {folder} ({state}set HIERSTAN_CACHE_DIR to move it)")


def _pairs(items: list[str] | None, what: str, convert=str) -> dict:
    """``NAME=VALUE`` arguments as a dict (values through ``convert``)."""
    pairs = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise UsageError(f"{what} must be NAME=VALUE, got {item!r}")
        try:
            pairs[name] = convert(value)
        except ValueError:
            raise UsageError(f"{what} {item!r}: {value!r} is not a number") from None
    return pairs


def _number_or_word(value: str) -> float | str:
    """A prior setting's value: a number, or a word for a choice (glmm's scale_prior=half_cauchy)."""
    try:
        return float(value)
    except ValueError:
        return value


def _shown(idata: az.InferenceData, largest: int = 20) -> list[str]:
    """The posterior variables worth printing: named parameters with at most ``largest`` values."""
    names = []
    for name, values in idata.posterior.data_vars.items():
        if not is_internal(name) and values.size // (values.sizes["chain"] * values.sizes["draw"]) <= largest:
            names.append(name)
    return names


_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst", ".tar", ".tgz")  # pandas reads these unpacked


def _read_data(path: Path) -> pd.DataFrame:
    """The CSV file given to --data, or a UsageError naming it and what is wrong with it."""
    def bad(problem: str) -> UsageError:
        return UsageError(f"--data {path}: {problem}")

    try:
        if path.is_dir():
            raise bad("is a folder, not a CSV file")
        if not path.exists():
            raise bad("no such file")
        # a regular file is sniffed first; a pipe (--data <(zcat x.csv.gz)) is read once, by pandas
        if path.is_file() and not path.name.lower().endswith(_COMPRESSED):
            if path.stat().st_size == 0:
                raise bad("the file is empty (expected a CSV file with a header row)")
            with path.open("rb") as f:
                if b"\0" in f.read(1 << 16):
                    raise bad("not a CSV file (it holds binary data)")
    except OSError as exc:
        raise bad(f"cannot be read ({exc.strerror})") from None
    try:
        data = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise bad("the file is empty (expected a CSV file with a header row)") from None
    except UnicodeDecodeError as exc:
        where = _first_non_utf8(path) or exc.reason
        raise bad(f"not UTF-8 text ({where}); save it as a UTF-8 CSV file") from None
    except OSError as exc:
        raise bad(f"cannot be read ({exc.strerror or exc})") from None
    except Exception as exc:  # pandas' parser errors, a damaged .gz: all "not a CSV file we can read"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise bad(f"not a readable CSV file ({first})") from None
    if data.empty:
        raise bad(f"has a header ({listed(data.columns, 20, str)}) but no data rows")
    return data


def _first_non_utf8(path: Path) -> str | None:
    """Where a regular file first breaks UTF-8 ("line 3 has byte 0xe9"), else None."""
    try:
        if not path.is_file() or path.name.lower().endswith(_COMPRESSED):
            return None
        raw = path.read_bytes()
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return f"line {line} has byte 0x{raw[exc.start]:02x}"
    except OSError:
        return None
    return None


def _output(path: Path | None, option: str, force: bool) -> Path | None:
    """Check, before any fit, that ``path`` can be written: its folder exists and takes files,
    and it is not a file already there (unless ``force``). A UsageError names the problem."""
    if path is None:
        return None
    folder = Path(os.path.realpath(path)).parent  # where _write puts it, through a symlink
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a folder; give a file name")
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        raise UsageError(f"{option} {path}: the folder {folder} {problem}")
    if path.exists() and not force:
        raise UsageError(f"{option} {path}: the file already exists; pass --force to overwrite it")
    try:  # the folder takes a new file: the one the result is written to before its rename
        probe, name = tempfile.mkstemp(prefix=".hierstan-check-", dir=folder)
        os.close(probe)
        os.unlink(name)
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write in the folder {folder} ({exc.strerror})") from None
    return path


def _write(path: Path, write, option: str = "--out") -> None:
    """``write(temporary)`` a file beside ``path``, then rename it to ``path``: an interrupted or
    failed write leaves ``path`` as it was (no half-written file) and no temporary behind; a full
    disk is a DiskFullError naming ``path``."""
    write_whole(path, write, f"the {option} file",
                fix=f"free space there, or give {option} a folder with room, and run the fit again")


def _fit(args: argparse.Namespace) -> None:
    family = get_family(args.model)
    out = _output(args.out, "--out", args.force)
    summary = _output(args.summary, "--summary", args.force)
    if out and summary and os.path.realpath(out) == os.path.realpath(summary):
        raise UsageError(f"--out and --summary name the same file, {out}")
    data = _read_data(args.data) if args.data else None
    options = {name: value for name, value in (("variant", args.variant),
                                               ("parameterization", args.parameterization),
                                               ("outcome", args.outcome), ("group", args.group),
                                               ("formula", args.formula), ("likelihood", args.likelihood),
                                               ("trials", args.trials))
               if value is not None}
    options.update(_pairs(args.column, "--column"))
    priors = _pairs(args.prior, "--prior", _number_or_word)
    if priors:
        options["priors"] = priors
    idata = family.fit(data, engine=args.engine, chains=args.chains, draws=args.draws, warmup=args.warmup,
                       seed=args.seed, adapt_delta=args.adapt_delta, max_treedepth=args.max_treedepth,
                       threads=args.threads, adaptation=args.adaptation, metric=args.metric, **options)
    shown = _shown(idata)
    with pd.option_context("display.width", 200, "display.max_rows", 500, "display.max_columns", 20), \
            quiet_arviz():  # one chain or a constant quantity: diagnose below says what the NaNs mean
        print(az.summary(idata, var_names=shown))
    hidden = sorted(set(idata.posterior.data_vars) - set(shown))
    if hidden:
        print(f"(not shown: {', '.join(hidden)}; --summary FILE writes every variable)")
    print(diagnose(idata))
    if summary:
        with quiet_arviz():
            table = az.summary(idata)
        _write(summary, table.to_csv, "--summary")
        print(f"wrote {summary}")
    if out:
        _write(out, lambda temporary: temporary.write_bytes(netcdf_bytes(idata)), "--out")
        print(f"wrote {out}")


def _reproduce(args: argparse.Namespace) -> None:
    out = args.out
    try:  # the folder, before any fit (reproduce regenerates its files: overwriting is its job)
        out.mkdir(parents=True, exist_ok=True)
        probe, name = tempfile.mkstemp(prefix=".hierstan-check-", dir=out)
        os.close(probe)
        os.unlink(name)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write results in this folder ({exc.strerror})") from None
    for path in reproduce(args.out, engine=args.engine, seed=args.seed, chains=args.chains,
                          draws=args.draws, warmup=args.warmup, families=args.families,
                          sbc_sims=args.sbc_sims, folds=args.folds, workers=args.workers):
        print(f"wrote {path}")


def _many_fits_folder(out: Path | None) -> None:
    """--out of sbc and kfold: a folder to write records into (and resume from)."""
    if out is None:
        return
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file; give a folder (records are written into it)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot make the folder ({exc.strerror})") from None


def _sbc(args: argparse.Namespace) -> None:
    from .sbc import sbc

    _many_fits_folder(args.out)
    priors = _pairs(args.prior, "--prior", _number_or_word)
    result = sbc(args.model, variant=args.variant, n_sims=args.sims,
                 data=_read_data(args.data) if args.data else None, priors=priors or None, keep=args.keep,
                 seed=args.seed, engine=args.engine, chains=args.chains, draws=args.draws, warmup=args.warmup,
                 adapt_delta=args.adapt_delta, folder=args.out, scheduler=args.scheduler,
                 workers=args.workers)
    print(result.summary())
    with pd.option_context("display.width", 200, "display.max_rows", 60):
        print(result.tests.sort_values("p_value").head(20).to_string(index=False))
    if args.out:
        print(f"wrote {args.out}/ranks.csv, fits.csv, tests.csv, summary.txt, ecdf.png")


def _kfold(args: argparse.Namespace) -> None:
    from .kfold import kfold

    _many_fits_folder(args.out)
    options = {name: value for name, value in (("variant", args.variant), ("outcome", args.outcome),
                                               ("group", args.group)) if value is not None}
    options.update(_pairs(args.column, "--column"))
    priors = _pairs(args.prior, "--prior", _number_or_word)
    if priors:
        options["priors"] = priors
    result = kfold(args.model, _read_data(args.data) if args.data else None, K=args.K, by=args.by,
                   seed=args.seed, engine=args.engine, chains=args.chains, draws=args.draws,
                   warmup=args.warmup, adapt_delta=args.adapt_delta, folder=args.out,
                   scheduler=args.scheduler, workers=args.workers, **options)
    print(result)


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
    fit.add_argument("--parameterization",
                     help="auto (the default: each group's form chosen from the data), centered or "
                          "noncentered, where the family offers them")
    fit.add_argument("--outcome", help="column of the outcome (default: the family's)")
    fit.add_argument("--group", help="column of the group labels (default: the family's)")
    fit.add_argument("--formula", help="glmm: an lme4 formula, e.g. 'y ~ x + (1 + x | g)'")
    fit.add_argument("--likelihood", help="glmm: gaussian (default), bernoulli, binomial, poisson or "
                                          "negative_binomial")
    fit.add_argument("--trials", help="glmm, binomial: the column of trials")
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
    fit.add_argument("--adaptation", choices=ADAPTATIONS, default=None,
                     help="warmup: hierstan (the native engine's default: metric from draws and "
                          "gradients) or stan (Stan's windowed adaptation, CmdStan's)")
    fit.add_argument("--metric", choices=METRICS, default=None,
                     help="diag (default) or low_rank (the diagonal plus correlated directions; "
                          "hierstan's warmup on the native engine only)")
    fit.add_argument("--summary", type=Path, help="write the summary of every variable to this CSV file")
    fit.add_argument("--out", type=Path, help="write the InferenceData to this netCDF file")
    fit.add_argument("--force", action="store_true",
                     help="overwrite the --out and --summary files if they exist (default: refuse, "
                          "before fitting)")
    fit.set_defaults(run=_fit)

    again = commands.add_parser("reproduce", help="regenerate every result into a folder")
    again.add_argument("--out", type=Path, default=Path("results"))
    again.add_argument("--seed", type=int, default=DEFAULT_SEED)
    again.add_argument("--chains", type=int, default=4)
    again.add_argument("--draws", type=int, default=1000, help="post-warmup draws per chain")
    again.add_argument("--warmup", type=int, default=1000, help="warmup iterations per chain")
    again.add_argument("--families", nargs="+", choices=list(FAMILIES), help="only these (default: all)")
    again.add_argument("--sbc-sims", type=int, default=SBC_SIMS,
                       help=f"simulations of each family's SBC (default: {SBC_SIMS}; 0: skip SBC)")
    again.add_argument("--folds", type=int, default=KFOLD_K,
                       help=f"K of radon's K-fold cross-validation (default: {KFOLD_K}; 0: skip it)")
    again.add_argument("--workers", type=int, default=None,
                       help="local Dask workers for SBC and K-fold (default: one per core)")
    again.set_defaults(run=_reproduce)
    calibrate = commands.add_parser(
        "sbc", help="simulation-based calibration of a model (many fits, on Dask)",
        description="Draw parameters and data from the model's prior, fit each data set, and test "
                    "that the ranks of the true values among the posterior draws are uniform.")
    calibrate.add_argument("model", help="model family, e.g. eight_schools")
    calibrate.add_argument("--variant", help="model variant (default: the family's first)")
    calibrate.add_argument("--sims", type=int, default=100, help="simulations (default: 100)")
    calibrate.add_argument("--data", type=Path, help="CSV file of the design to simulate at "
                                                     "(default: the shipped data)")
    calibrate.add_argument("--prior", action="append", metavar="NAME=VALUE",
                           help="a prior value used to simulate and to fit (repeatable)")
    calibrate.add_argument("--keep", type=int, default=99,
                           help="thinned posterior draws each true value is ranked among (default: 99)")
    calibrate.add_argument("--seed", type=int, default=0)
    calibrate.add_argument("--chains", type=int, default=4)
    calibrate.add_argument("--draws", type=int, default=250,
                           help="post-warmup draws per chain (default: 250)")
    calibrate.add_argument("--warmup", type=int, default=500,
                           help="warmup iterations per chain (default: 500)")

    cross = commands.add_parser(
        "kfold", help="K-fold cross-validation of a model (many fits, on Dask)",
        description="Refit the model without each fold and score the held-out rows: stratified by "
                    "the group column, or whole groups held out (--by).")
    cross.add_argument("model", help="model family, e.g. radon")
    cross.add_argument("--data", type=Path, help="CSV file (default: the shipped data)")
    cross.add_argument("--variant", help="model variant (default: the family's first)")
    cross.add_argument("--outcome", help="column of the outcome (default: the family's)")
    cross.add_argument("--group", help="column of the group labels (default: the family's)")
    cross.add_argument("--column", action="append", metavar="ROLE=NAME", help="another column argument")
    cross.add_argument("--prior", action="append", metavar="NAME=VALUE", help="a prior value (repeatable)")
    cross.add_argument("-K", "--K", type=int, default=10, help="folds (default: 10)")
    cross.add_argument("--by", help="hold out whole groups of this column (default: folds of rows, "
                                    "stratified by the group column)")
    cross.add_argument("--seed", type=int, default=0)
    cross.add_argument("--chains", type=int, default=4)
    cross.add_argument("--draws", type=int, default=1000, help="post-warmup draws per chain")
    cross.add_argument("--warmup", type=int, default=1000, help="warmup iterations per chain")
    for command, run in ((calibrate, _sbc), (cross, _kfold)):
        command.add_argument("--adapt-delta", type=float, default=None,
                             help="NUTS target acceptance rate (default: the model's)")
        command.add_argument("--workers", type=int, default=None,
                             help="local Dask workers, one single-threaded fit each (default: one per core)")
        command.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                             help="run on this Dask cluster instead (its workers need hierstan and the "
                                  "compile cache on a shared file system)")
        command.add_argument("--out", type=Path,
                             help="folder for the records, written as fits finish; rerun to resume")
        command.set_defaults(run=run)
    for command in (fit, again, calibrate, cross):
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
    """hierstan's own warnings as one line each (a command has no user code to point at); every
    warning on lines of its own, above a long job's progress line."""
    if issubclass(category, (HierstanWarning, DataWarning)):
        say(f"hierstan: warning: {message}")
    elif file is None:
        say(warnings.formatwarning(message, category, filename, lineno, line).rstrip("\n"))
    else:
        _default_show_warning(message, category, filename, lineno, file, line)


def _exit_code(exc: BaseException) -> int:
    """The one place exceptions become exit codes (see the top of this module); the message
    goes to stderr as one line, without a traceback. Anything else is a bug: Python's traceback."""
    if isinstance(exc, KeyboardInterrupt):
        print("hierstan: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"hierstan: error: {exc}", file=sys.stderr)
    return EXIT_USAGE if isinstance(exc, _USAGE_ERRORS) else EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    shown = warnings.showwarning
    try:
        if argv[:1] == ["bench"]:
            from .bench.run import main as bench

            bench(argv[1:])
            return 0
        args = parser().parse_args(argv)  # a usage error exits 2 here, through argparse
        warnings.showwarning = _show_warning
        args.run(args)
    except (KeyboardInterrupt, HierstanError, OSError) as exc:
        return _exit_code(exc)
    finally:
        warnings.showwarning = shown
    return 0


if __name__ == "__main__":
    sys.exit(main())
