"""Sampler diagnostics checked after every fit, with advice on what to do about problems."""

from __future__ import annotations

from dataclasses import dataclass, field

import arviz as az
import numpy as np
import pandas as pd

from .errors import warn_user
from .post_estimation import is_internal
from .stan_data import DEFAULT_ADVICE

# Thresholds of Vehtari et al. (2021) and the Stan documentation
RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100
EBFMI_MIN = 0.3


class HierstanWarning(UserWarning):
    """A sampling problem that makes the posterior untrustworthy until it is addressed."""


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
            f"max R-hat: {self.rhat_max:.3f}",
            f"min bulk ESS: {self.ess_bulk_min:.0f}, min tail ESS: {self.ess_tail_min:.0f}",
        ]
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
    ebfmi = np.atleast_1d(az.bfmi(idata))
    # report the user's parameters (alpha), not the sampler's coordinates they are built from (z_alpha)
    shown = [name for name in idata.posterior.data_vars if not is_internal(name)]
    table = az.summary(idata, var_names=shown, kind="diagnostics", round_to="none")
    report = DiagnosticReport(
        draws=int(stats.sizes["chain"] * stats.sizes["draw"]),
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
    loos = {name: az.loo(idata, pointwise=True) for name, idata in fits.items()}
    table = az.compare(loos, ic="loo")
    flagged = []
    for name, loo in loos.items():
        k = np.asarray(loo.pareto_k).ravel()
        bad = np.flatnonzero(k > loo.good_k)
        table.loc[name, "pareto_k_max"] = float(k.max())
        table.loc[name, "bad_k"] = len(bad)
        flagged.append(pd.DataFrame({"model": name, "obs": bad, "pareto_k": k[bad]}))
    table["bad_k"] = table["bad_k"].astype(int)
    return table, pd.concat(flagged, ignore_index=True)


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

