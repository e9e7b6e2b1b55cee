"""Sampler diagnostics checked after every fit, with advice on what to do about problems."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import arviz as az
import numpy as np
import pandas as pd
from arviz.stats.stats_utils import ELPDData

from .errors import warn_user
from .post_estimation import is_internal
from .stan_data import DEFAULT_ADVICE
from .validation import listed

# Thresholds of Vehtari et al. (2021) and the Stan documentation
RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100
EBFMI_MIN = 0.3


class HierstanWarning(UserWarning):
    """A sampling problem that makes the posterior untrustworthy until it is addressed."""


@contextmanager
def quiet_arviz() -> Iterator[None]:
    """Around hierstan's own ArviZ calls: numpy's 0/0 warnings for the R-hat of a quantity
    constant in every draw, and ArviZ's log line 'Shape validation failed' for a single chain or
    fewer than 4 draws, are kept out; :func:`diagnose` says what they mean. The global warning
    filters are not touched, and ArviZ's logger is as before afterwards."""

    def not_shape(record) -> bool:
        return not record.getMessage().startswith("Shape validation failed")

    # ArviZ logs through a Logger object of its own: logging.getLogger("arviz") is another one
    log = az._log
    log.addFilter(not_shape)
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            yield
    finally:
        log.removeFilter(not_shape)


def psis_loo(idata: az.InferenceData) -> ELPDData:
    """``az.loo(idata, pointwise=True)`` without ArviZ's Pareto-k warning: the caller says which
    observations are above ``good_k`` in its own words (:func:`compare_loo`, K-fold's count)."""
    with quiet_arviz(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Estimated shape parameter of Pareto", UserWarning)
        return az.loo(idata, pointwise=True)


@dataclass
class DiagnosticReport:
    """Summary of one fit's sampler diagnostics; ``problems`` says what went wrong and what to do."""

    draws: int
    divergences: int
    treedepth_hits: int
    max_treedepth: int
    ebfmi: np.ndarray
    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    table: pd.DataFrame = field(repr=False)
    problems: list[str] = field(default_factory=list)
    # what the numbers leave unsaid (R-hat not computed, and why), not a problem
    notes: list[str] = field(default_factory=list)
    # the group effects' form, and for "auto" what the pilot chose
    parameterization: str = ""
    adaptation: str = ""  # which warmup ran: "hierstan" or "stan"

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        lines = [
            f"divergent transitions: {self.divergences} of {self.draws}",
            f"max tree depth ({self.max_treedepth}) hit: {self.treedepth_hits} of {self.draws}",
            "E-BFMI per chain: " + ", ".join(f"{v:.2f}" for v in self.ebfmi),
            f"max R-hat: {_number(self.rhat_max, '.3f')}",
            f"min bulk ESS: {_number(self.ess_bulk_min, '.0f')}, "
            f"min tail ESS: {_number(self.ess_tail_min, '.0f')}",
        ]
        lines += [f"note: {note}" for note in self.notes]
        if self.parameterization:
            lines.append(f"parameterization: {self.parameterization}")
        if self.adaptation:
            lines.append(f"warmup adaptation: {self.adaptation}")
        lines += [f"PROBLEM: {p}" for p in self.problems] or ["no problems found"]
        return "\n".join(lines)

    def as_series(self) -> pd.Series:
        return pd.Series({
            "draws": self.draws,
            "divergences": self.divergences,
            "treedepth_hits": self.treedepth_hits,
            "ebfmi_min": float(np.min(self.ebfmi)),
            "rhat_max": self.rhat_max,
            "ess_bulk_min": self.ess_bulk_min,
            "ess_tail_min": self.ess_tail_min,
            "problems": len(self.problems),
        })

    def warn(self) -> None:
        for problem in self.problems:
            warn_user(problem, HierstanWarning)


def diagnose(idata: az.InferenceData) -> DiagnosticReport:
    """Check divergences, tree depth, E-BFMI, R-hat and bulk/tail ESS of a hierstan fit."""
    stats = idata.sample_stats
    attrs = idata.posterior.attrs
    chains = stats.sizes["chain"]
    max_depth = int(attrs.get("max_treedepth", 10))
    divergences = int(stats["diverging"].sum())
    hits = int((stats["tree_depth"] >= max_depth).sum())
    per_chain = stats.sizes["draw"]
    # report the user's parameters (alpha), not the sampler's coordinates they are built from (z_alpha)
    shown = [name for name in idata.posterior.data_vars if not is_internal(name)]
    with quiet_arviz():  # what its messages mean is in the notes and problems below
        ebfmi = np.atleast_1d(az.bfmi(idata))
        table = az.summary(idata, var_names=shown, kind="diagnostics", round_to="none")
    report = DiagnosticReport(
        draws=int(chains * per_chain),
        divergences=divergences,
        treedepth_hits=hits,
        max_treedepth=max_depth,
        ebfmi=ebfmi,
        rhat_max=float(table["r_hat"].max()),
        ess_bulk_min=float(table["ess_bulk"].min()),
        ess_tail_min=float(table["ess_tail"].min()),
        table=table,
        parameterization=_parameterization(attrs),
        adaptation=str(attrs.get("adaptation", "")),
    )
    advice = str(attrs.get("divergence_advice", DEFAULT_ADVICE)).replace(
        DEFAULT_ADVICE, step_advice(attrs.get("adapt_delta")))
    if divergences:
        report.problems.append(
            f"{divergences} divergent transition(s): the posterior may be biased where the sampler "
            f"could not follow it (typically a funnel); {advice}"
        )
    if hits:
        report.problems.append(
            f"{hits} draw(s) hit the maximum tree depth {max_depth}: sampling is inefficient; "
            "reparameterise or raise max_treedepth"
        )
    low_bfmi = np.flatnonzero(ebfmi < EBFMI_MIN)
    if low_bfmi.size:
        report.problems.append(
            f"E-BFMI below {EBFMI_MIN} in chain(s) {', '.join(map(str, low_bfmi + 1))}: "
            "the momentum resampling explores the energy poorly; reparameterise"
        )
    if per_chain < 4:
        report.problems.append(
            f"ESS and R-hat need 4 or more draws per chain and this fit has {per_chain}: "
            "draw more (draws=...)")
    elif chains < 2:
        report.notes.append(
            "R-hat not computed: it compares chains and this fit has 1; run chains=2 or more to "
            "check that the sampler converged")
    else:
        # a constant's mcse is 0 and its R-hat 0/0: fixed by construction (a correlation
        # matrix's diagonal), not a sampling problem
        constant = table.index[table["r_hat"].isna() & (table["mcse_mean"] == 0)]
        if len(constant):
            report.notes.append(f"no R-hat for {_names(constant)}: the same value in every draw")
    bad_rhat = table.index[table["r_hat"] > RHAT_MAX]
    if len(bad_rhat):
        report.problems.append(
            f"R-hat above {RHAT_MAX} for {_names(bad_rhat)}: chains disagree; run longer or "
            "reparameterise"
        )
    ess_min = ESS_PER_CHAIN_MIN * chains
    for kind in ("bulk", "tail"):
        low = table.index[table[f"ess_{kind}"] < ess_min]
        if len(low):
            report.problems.append(
                f"{kind} ESS below {ess_min} for {_names(low)}: draw more (draws=...) "
                "or reparameterise"
            )
    return report


def _number(value: float, spec: str) -> str:
    return "none" if np.isnan(value) else format(value, spec)  # the notes and problems say why


def _parameterization(attrs: dict) -> str:
    form = attrs.get("parameterization")
    if not isinstance(form, str) or not form:
        return ""
    choice = attrs.get("parameterization_choice", "")
    return f"{form} ({choice})" if choice else form


def _names(index: pd.Index, limit: int = 6) -> str:
    shown = ", ".join(index[:limit])
    return shown + (f" and {len(index) - limit} more" if len(index) > limit else "")


def compare_loo(fits: dict[str, az.InferenceData]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """PSIS-LOO comparison of fits to the same observations, through ArviZ, with the observations
    whose Pareto k says their LOO estimate is unreliable.

    Returns ``az.compare``'s table plus two columns per model, ``pareto_k_max`` and ``bad_k`` (the
    number of observations above ArviZ's threshold for the draws at hand, 0.7 for 4000 draws),
    and one row per such observation: model, its position ``obs`` among the observations, its k.
    """
    loos = {name: psis_loo(idata) for name, idata in fits.items()}
    table = az.compare(loos, ic="loo")
    flagged, unreliable = [], []
    for name, loo in loos.items():
        k = np.asarray(loo.pareto_k).ravel()
        bad = np.flatnonzero(k > loo.good_k)
        table.loc[name, "pareto_k_max"] = float(k.max())
        table.loc[name, "bad_k"] = len(bad)
        flagged.append(pd.DataFrame({"model": name, "obs": bad, "pareto_k": k[bad]}))
        if len(bad):
            unreliable.append(_unreliable(name, loo, bad))
    table["bad_k"] = table["bad_k"].astype(int)
    if unreliable:  # one warning for the comparison, however many models have such observations
        warn_user(f"PSIS-LOO is unreliable {'; '.join(unreliable)}. Leaving one of them out moves the "
                  "posterior too far for importance sampling to estimate; K-fold cross-validation refits "
                  "without them instead: hierstan.kfold(fit), or `hierstan kfold <model>`", HierstanWarning)
    return table, pd.concat(flagged, ignore_index=True)


def _unreliable(name: str, loo: ELPDData, bad: np.ndarray) -> str:
    """'for 2 of 919 observations of model 'a', whose Pareto k is above 0.7: house 12, 45', by
    the log-likelihood's labels where it has them (the user's row labels), else positions."""
    k = loo.pareto_k
    dim = k.dims[0] if k.ndim == 1 else ""
    # ArviZ names the dim of an unlabelled variable "<name>_dim_0"
    if not dim or re.search(r"_dim_\d+$", dim):
        where, labels = "position", bad
    else:
        where, labels = dim, k[dim].values[bad]
    return (f"for {len(bad)} of {k.size} observations of model {name!r}, whose Pareto k is above "
            f"{loo.good_k:.2g}: {where} {listed(labels, 5, str)}")


STEPS = (0.9, 0.95, 0.99, 0.999)  # adapt_delta values worth suggesting, each a smaller step


def step_advice(used: object) -> str:
    """What to do about divergences given the adapt_delta the fit ran at: the next value up, or,
    where it is already near 1, that a smaller step will not remove them."""
    try:
        delta = float(used)
    except (TypeError, ValueError):
        return DEFAULT_ADVICE
    higher = [step for step in STEPS if step > delta]
    if higher:
        return f"raise adapt_delta above the {delta:g} used (e.g. adapt_delta={higher[0]:g})"
    return (f"adapt_delta is already {delta:g}, so a smaller step will not remove them: find the "
            "funnel (the group scale against its effects) and reparameterise it, or give that scale "
            "a tighter prior; if there are only a few, see whether they recur at another seed")

