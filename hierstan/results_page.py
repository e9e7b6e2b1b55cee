"""``results/README.md``: the index of a ``hierstan reproduce`` run (issue 33). Every figure embedded
and every table linked, grouped by model family (then SBC, K-fold and files without a description),
each with one line on what it shows and what to look for, under a header saying how the run was
made: engine, versions, seed, sampler settings, date and wall time.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from . import __version__
from .engines import get_engine
from .errors import HierstanError
from .files import write_text
from .models import FAMILIES

PAGE = "README.md"
FIGURES = (".png", ".svg")
SBC, KFOLD, OTHER = "SBC", "K-fold", "Other files"
# written by `make bench`, not by reproduce: linked as a folder, not indexed
BENCH = "bench"
PACKAGES = ("numpy", "pandas", "arviz", "matplotlib", "cmdstanpy")

# What each file shows and what to look for, by pattern of its path in the folder (fnmatch; the
# first match wins). A table written both as .md and .csv has one pattern, "name.*", and one line.
# The order is the page's order within a family: figures, then tables.
DESCRIPTIONS: dict[str, str] = {
    # eight schools
    "eight_schools_funnel.png":
        "theta[A] against log tau, centered (left) and non-centered (right), divergent transitions in "
        "red: the centered fit's divergences gather at small tau, the funnel's neck it cannot enter; "
        "the non-centered fit has none and reaches far smaller tau.",
    "eight_schools_log_tau_running_mean.png":
        "The running mean of log tau in each chain, centered and non-centered: the non-centered chains "
        "settle on one value; the centered ones wander apart and stay higher, missing the small taus.",
    "eight_schools_diagnostics.*":
        "Sampler diagnostics of each parameterization (divergences, tree-depth hits, E-BFMI, R-hat, "
        "ESS, problems): 0 problems for auto and noncentered; centered's divergences, low E-BFMI and "
        "small ESS are the funnel.",
    "eight_schools_summary.csv":
        "Posterior mean, sd, 94% HDI, MCSE, ESS and R-hat of mu, tau and each school's theta, per "
        "parameterization: auto (chosen per school from the data) agrees with noncentered; centered "
        "overstates tau, with a tenth of the ESS.",
    # radon
    "radon_shrinkage.png":
        "Each county's intercept (log radon of a basement house) against its number of houses, "
        "unpooled and varying-intercept, with the pooled estimate as a line: small counties' "
        "hierarchical points sit between their unpooled estimate and the line; large counties barely move.",
    "radon_loo.*":
        "PSIS-LOO comparison of the six variants (elpd, p_loo, difference and its dse, highest Pareto k) "
        "and, in the .md, the houses per model whose Pareto k is too high to trust: weigh each elpd "
        "difference against its dse (group_predictor, with county uranium, leads); unpooled, with the "
        "most high-k houses, has the least reliable LOO.",
    "radon_loo_pareto_k.csv":
        "Every house whose Pareto k is too high, per model, with its county, the county's size, floor and "
        "log radon: mostly houses in counties of a few houses, whose own data make their county's effect.",
    "radon_counties.csv":
        "Per county and variant (all but pooled): houses, raw mean of log radon, posterior mean and 90% "
        "interval of the county's intercept and, where it varies, floor slope: in the hierarchical "
        "variants, the smaller the county, the wider its interval and the further its intercept is "
        "pulled from its raw mean.",
    "radon_summary.csv":
        "Posterior summary of every parameter of the six variants, county effects included: R-hat at "
        "most 1.01 and bulk ESS in the hundreds at least on every row.",
    # multigroup
    "multigroup_recovery.png":
        "Top: each variant's 90% interval of every group's coefficients w next to the simulation's true "
        "values; bottom: the error w - true w of hierarchical and separate: both cover the truth within "
        "a few hundredths; pooled, one w for all groups, misses groups whose coefficients differ.",
    "multigroup_summary.csv":
        "Posterior summary of each variant's w and sigma (hierarchical: also mu_w and tau) next to the "
        "true value (column true; none for pooled w and the population parameters): the truth inside "
        "the 94% HDI of the hierarchical and separate rows.",
    # thai
    "thai_prior_predictive.png":
        "Schools' repeat rates in 20 prior predictive draws of random_slope against the observed rates: "
        "the vague default priors put most schools at 0 or 1; a check of what the priors imply, not of "
        "the fit.",
    "thai_posterior_predictive.png":
        "Posterior predictive check of random_slope: replicated against observed repeat rate per school "
        "(90% intervals, left) and the distribution over schools (right): the observed histogram within "
        "the replicated ones; points below the diagonal at high observed rates are shrinkage.",
    "thai_forest_pped.png":
        "Each school's effect of pped (log-odds; posterior mean and 90% interval), ordered, with the "
        "population mean mu_beta: the means stay close to mu_beta (little variation between schools) "
        "and most intervals lie below 0.",
    "thai_loo.*":
        "PSIS-LOO comparison of the five variants fitted to every pupil (the .md: pupils with a high "
        "Pareto k, and why covariates is left out): the variants with school intercepts lie within "
        "about one dse of each other; slope_only, without them, is far behind.",
    "thai_probability_effects.*":
        "P(repeat | pped=0), P(repeat | pped=1) and their difference for a typical school (the population "
        "centre) and averaged over the schools, per variant (mean, 90% interval): every difference "
        "interval below 0, about 6 points with school intercepts.",
    "thai_loo_pareto_k.csv":
        "Pupils whose Pareto k is above ArviZ's threshold, per model, with school and outcome: where "
        "PSIS-LOO may be off; few or none.",
    "thai_summary.csv":
        "Posterior summary of the population parameters of every variant, covariates included (fitted "
        "without the pupils whose school lacks msesc): R-hat near 1, bulk ESS in the hundreds at least.",
    # exam
    "exam_caterpillar.png":
        "Each school's rank on its intercept (median and 95% interval; 1 = highest), schools by median "
        "rank (lkj): most intervals span a third of the 38 ranks or more, so a league table tells only "
        "the extremes apart.",
    "exam_league_table.*":
        "Per school (lkj): mean and median rank on the intercept, 95% interval, probabilities of the top "
        "and bottom 5, posterior mean intercept: no school is surely in the top 5 (the best about 1 in 2).",
    "exam_lkj_vs_bugs.*":
        "Posterior mean and sd of the population quantities under the LKJ prior (lkj) and the published "
        "inverse-Wishart (bugs): the fixed effects agree; the school sds and correlations follow their "
        "prior, tau[lrt] most, about ten times larger under bugs.",
    "exam_summary.csv":
        "Posterior summary of the lkj variant on the original scale (gamma, beta, tau, Omega, theta, phi; "
        "unrounded): R-hat near 1, bulk ESS in the hundreds at least.",
    # mathtest
    "mathtest_shrinkage.png":
        "Left: each school's estimated mean against its raw mean, empirical and full Bayes (point area: "
        "students), between no pooling (y = x) and complete pooling (mu); right: the shrinkage factor "
        "against school size: full Bayes on empirical Bayes's curve, small schools pulled the most.",
    "mathtest_estimates.*":
        "mu, sigma2 and tau2 by empirical Bayes (estimate, se), full Bayes in Stan and the Gibbs sampler "
        "(mean, sd, MCSE): the three agree within their errors, Stan and Gibbs within a few MCSE.",
    "mathtest_schools.*":
        "Per school: students, raw mean, empirical and full Bayes means, full Bayes 90% interval and "
        "shrinkage factors (the .md opens with the small schools of extreme raw means): empirical and "
        "full Bayes agree; small schools far from mu move the most.",
    "mathtest_summary.csv":
        "Posterior summary of mu, sigma2, tau2, lambda, omega and every school's theta from Stan (each "
        "parameterization) and the Gibbs sampler: the methods agree, R-hat near 1.",
    # glmm
    "glmm_summary.*":
        "`log_radon ~ floor + (1 + floor | county)` on the radon data, the formula family's default: "
        "posterior summary and (.md) sampler diagnostics: the means agree closely with the "
        "varying_intercept_slope_correlated rows of radon_summary.csv, the same model.",
    # SBC
    "sbc_summary.md":
        "One row per family's default variant: design, priors, failed and divergent fits, R-hat above "
        "1.01 and 1.05, seconds per fit, and the test: 0 in 'not uniform (Holm, 5%)', and about 5% of "
        "parameters outside the band.",
    "sbc/glmm_sbc.md":
        "SBC of three glmm designs (gaussian with two crossed factors and a correlated slope, bernoulli, "
        "poisson), written by `scripts/glmm_sbc.py`, not by reproduce: 0 not uniform in every row.",
    "sbc/*/ecdf.png":
        "ECDF of each parameter's ranks minus the uniform's (every scalar, each vector's first element), "
        "with the simultaneous 95% band: every line inside its band but about 1 parameter in 20; a hump "
        "or dip over the whole range is a shifted posterior, a wave (up then down, or down then up) one "
        "too narrow or too wide.",
    "sbc/*/summary.txt":
        "The SBC in a few lines: simulations fitted, failed and divergent, and the verdict: 'ranks "
        "uniform for every parameter'.",
    "sbc/*/tests.csv":
        "Per parameter: chi-square of the ranks, p-value, Holm-adjusted p, whether the ECDF leaves its "
        "band, and uniform: True on every row.",
    "sbc/*/ranks.csv":
        "Each simulation's rank of every true parameter value among the thinned posterior draws: the "
        "data of the test and the plot.",
    "sbc/*/fits.csv":
        "Each simulation's fit: status, divergences, smallest bulk ESS, largest R-hat, seconds and the "
        "sampler's warnings: where the calibration's fits struggled.",
    # K-fold
    "radon_kfold.*":
        "Per radon variant: PSIS-LOO next to K-fold by houses stratified by county, and by whole "
        "counties left out (a new county), with the refits' divergences: stratified K-fold agrees with "
        "LOO within a few elpd where Pareto k is fine and parts from it where k is high (unpooled).",
}

_HEADINGS = {SBC: "SBC: simulation-based calibration", KFOLD: "K-fold cross-validation",
             OTHER: "Other files"}


def write_results_page(
    out: str | Path,
    written: Iterable[str | Path],
    *,
    engine: str,
    seed: int,
    chains: int,
    draws: int,
    warmup: int,
    families: list[str],
    sbc_sims: int,
    folds: int,
    started: datetime | None,
    seconds: float | None,
    note: str | None = None,
) -> Path:
    """Write ``out/README.md``, the index of the files ``written`` into ``out`` by a reproduce run
    of ``families`` with these settings (``engine`` as asked: "auto" is resolved here), begun at
    ``started`` and taking ``seconds`` (None: not recorded). Files already in ``out`` that the run
    did not write are listed after, as such; ``note`` is a line put under the title. Returns the path."""
    out = Path(out)
    ours = _relative(out, written)
    others = _relative(out, (path for path in out.rglob("*") if path.is_file()))
    others = [path for path in others if path not in ours and path.parts[0] != BENCH
              and not any(part.startswith(".") for part in path.parts)]
    lines = ["# Results", ""]
    if note:
        lines += [note, ""]
    lines += _header(out, engine=engine, seed=seed, chains=chains, draws=draws, warmup=warmup,
                     families=families, sbc_sims=sbc_sims, folds=folds, started=started, seconds=seconds)
    lines += _contents(ours)
    lines += _section(ours, level=2)
    if others or (out / BENCH).is_dir():
        lines += ["## Not written by this run", "",
                  "Files in this folder from earlier runs or other scripts: their settings and date "
                  "may differ from the header's.", ""]
        if (out / BENCH).is_dir():
            lines += [f"- [`{BENCH}/`]({BENCH}/): timings of hierstan against PyMC and nutpie and the "
                      "engines' costs, written by `make bench` (start with its `benchmark.md`).", ""]
        lines += _section(others, level=3)
    return write_text(out / PAGE, "\n".join(lines).rstrip() + "\n", "the results page",
                      "every result was written before it: free space there and run it again")


def description(path: str | PurePosixPath) -> tuple[int, str] | None:
    """The place in DESCRIPTIONS and the line of a file, by its path in the folder; None if none fits."""
    for place, (pattern, line) in enumerate(DESCRIPTIONS.items()):
        if fnmatchcase(str(path), pattern):
            return place, line
    return None


def group(path: PurePosixPath) -> str:
    """The page's section of a file: its family, SBC, K-fold or, without a description, Other files."""
    if description(path) is None:
        return OTHER
    if path.parts[0] == "sbc" or path.name.startswith("sbc_"):
        return SBC
    if "kfold" in path.name:
        return KFOLD
    # the longest name first: a family's name could start another's
    for name in sorted(FAMILIES, key=len, reverse=True):
        if path.name.startswith(name + "_"):
            return name
    return OTHER


def _relative(out: Path, paths: Iterable[str | Path]) -> list[PurePosixPath]:
    """Paths relative to ``out`` (links on the page are relative: no absolute path), without the page."""
    found = {PurePosixPath(Path(os.path.relpath(path, out)).as_posix()) for path in paths}
    found.discard(PurePosixPath(PAGE))
    return sorted(found)


def _engine(engine: str) -> tuple[str | None, str]:
    """The name of the engine ``engine`` stood for (as get_engine picks it here) and a line on it."""
    try:
        chosen = get_engine(engine)
    except HierstanError as exc:  # fits that never needed it (faked): say so rather than fail the run
        return None, f"`{engine}`, not resolved ({exc})"
    return chosen.name, f"{chosen.version()}, asked for as `{engine}`"


def _versions() -> str:
    found = [f"hierstan {__version__}", f"Python {platform.python_version()}"]
    for name in PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} not installed")
    return ", ".join(found)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min {rest:02d} s" if hours else f"{minutes} min {rest:02d} s"


def _header(out: Path, *, engine: str, seed: int, chains: int, draws: int, warmup: int,
            families: list[str], sbc_sims: int, folds: int, started: datetime | None,
            seconds: float | None) -> list[str]:
    families = [name for name in FAMILIES if name in families]  # in the page's order
    partial = families != list(FAMILIES)
    run = (f"**partial**: {', '.join(families) or 'no family'} only (of {', '.join(FAMILIES)})"
           if partial else f"every family ({', '.join(FAMILIES)})")
    kfold = folds and "radon" in families
    date = started.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if started else "not recorded"
    name, used = _engine(engine)
    # the command that makes the same files: every setting spelled out, the engine fixed
    command = (f"HIERSTAN_ENGINE={name} " if name else "") + \
        f"hierstan reproduce --out {out.resolve().name} --seed {seed} --chains {chains} --draws {draws} " \
        f"--warmup {warmup} --sbc-sims {sbc_sims} --folds {folds}" + \
        (f" --families {' '.join(families)}" if partial else "")
    return [
        "Every table and figure `hierstan reproduce` wrote into this folder, by model family, then SBC "
        "and K-fold: each with a line on what it shows and what to look for.",
        "",
        f"- **Run**: {run}",
        f"- **Engine**: {used}",
        f"- **Sampling**: seed {seed}; {chains} chains of {warmup} warmup + {draws} draws",
        f"- **SBC**: {f'{sbc_sims} simulations per family' if sbc_sims else 'not run'}; "
        f"**K-fold**: {f'{folds} folds (radon)' if kfold else 'not run'}",
        f"- **Date**: {date}; **wall time**: {_duration(seconds) if seconds is not None else 'not recorded'}",
        f"- **Versions**: {_versions()}",
        f"- **Regenerate**: `{command}`; `make results` runs every family with the defaults",
        "",
    ]


def _sort_key(path: PurePosixPath) -> tuple:
    """Sections in order (families as in FAMILIES, then SBC, K-fold, Other files); within one, the
    top folder first, then sub-folders by family, then the order of DESCRIPTIONS."""
    sections = [*FAMILIES, SBC, KFOLD, OTHER]
    folder = path.parent
    rank = (-1 if folder == PurePosixPath(".") else
            list(FAMILIES).index(folder.name) if folder.name in FAMILIES else len(FAMILIES))
    found = description(path)
    # a table's .md before its .csv: the .md is the one to read
    return (sections.index(group(path)), rank, str(folder), found[0] if found else 0, path.suffix != ".md",
            str(path))


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _title(section: str) -> str:
    return _HEADINGS.get(section, section)


def _contents(paths: list[PurePosixPath]) -> list[str]:
    sections = list(dict.fromkeys(group(path) for path in sorted(paths, key=_sort_key)))
    if not sections:
        return ["No file was written by this run.", ""]
    return ["Contents: " + " · ".join(f"[{_title(s)}](#{_slug(_title(s))})" for s in sections), ""]


def _link(path: PurePosixPath) -> str:
    return f"[`{path.name}`]({quote(str(path))})"


def _section(paths: list[PurePosixPath], *, level: int) -> list[str]:
    """The files under a heading per section and a sub-heading per sub-folder, figures embedded.
    Files that share a line (a table's .md and .csv) are one entry; a line already given for
    another folder (each family's SBC files) is not repeated: that folder's files share one entry."""
    entries: dict[tuple[str, PurePosixPath, str, str], list[PurePosixPath]] = {}
    given: dict[str, PurePosixPath] = {}  # the folder each line was first given for
    for path in sorted(paths, key=_sort_key):
        found = description(path)
        line = found[1] if found else ""
        if line and given.setdefault(line, path.parent) != path.parent:
            line = f"as for `{given[line]}/` above."
        # an undescribed file is an entry of its own
        key = (group(path), path.parent, line, "" if line else str(path))
        entries.setdefault(key, []).append(path)
    lines: list[str] = []
    section = folder = None
    for (name, parent, line, _), files in entries.items():
        if name != section:
            section, folder = name, None
            lines += [f"{'#' * level} {_title(name)}", ""]
            if name in FAMILIES:
                lines += [f"*{FAMILIES[name].description}*", ""]
            if name == OTHER:
                lines += ["No description yet: add one to DESCRIPTIONS in `hierstan/results_page.py`.", ""]
        if parent != folder:
            folder = parent
            if parent != PurePosixPath("."):
                lines += [f"{'#' * (level + 1)} [`{parent}/`]({quote(str(parent))}/)", ""]
        links = ", ".join(_link(path) for path in files)
        figures = [path for path in files if path.suffix in FIGURES]
        text = f"{links}: {line}" if line else links
        lines += [text if figures else f"- {text}", ""]
        lines += [embed for path in figures for embed in (f"![{path.name}]({quote(str(path))})", "")]
    return lines
