"""Sampler diagnostics checked after every fit, with advice on what to do about problems."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from arviz.utils import Numba
from scipy import special
from scipy.fftpack import next_fast_len

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
    table = diagnostics_table(idata.posterior, shown)
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
    advice = attrs.get("divergence_advice", DEFAULT_ADVICE)
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


# az.summary(kind="diagnostics")'s columns, which diagnostics_table computes
STATISTICS = ("mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat")


class _Fallback(Exception):
    """The draws need ArviZ's own path (NaN, a constant variable, ...): its warnings included."""


def diagnostics_table(posterior: xr.Dataset, names: list[str]) -> pd.DataFrame:
    """``az.summary(posterior, var_names=names, kind="diagnostics", round_to="none")``: the same
    table, the same numbers to the bit, computed for every element at once in numpy instead of
    one element at a time (ArviZ's ``_multichain_statistics``, 5 ms an element on 4000 draws;
    the math test has 103). Draws this path does not cover (fewer than 2 chains or 4 draws, a
    value that is not finite, a statistic that comes out NaN, repeated coordinate labels) go
    through ArviZ itself, warnings and all."""
    try:
        labels, columns = [], []
        for name in names:
            values = posterior[name].transpose("chain", "draw", ...)
            dims = values.dims[2:]
            coords = [values[dim].values for dim in dims]
            if any(len(set(c.tolist())) != len(c) for c in coords):
                raise _Fallback
            labels += [name] if not dims else [
                f"{name}[{', '.join(f'{value}' for value in chosen)}]"
                for chosen in itertools.product(*coords)]
            columns.append(values.values.reshape(*values.shape[:2], -1))
        draws = np.concatenate(columns, axis=2).astype(float, copy=False) if columns else None
        if draws is None or draws.shape[2] == 0:
            raise _Fallback
        draws = np.ascontiguousarray(np.moveaxis(draws, 2, 0))  # (element, chain, draw)
        table = _multichain_statistics(draws)
    except _Fallback:
        return az.summary(posterior, var_names=names, kind="diagnostics", round_to="none")
    return pd.DataFrame(table, index=labels, columns=list(STATISTICS))


def _multichain_statistics(ary: np.ndarray) -> np.ndarray:
    """ArviZ's ``_multichain_statistics`` (focus "mean") of each ``ary[k]`` (chain, draw): its
    arithmetic in its order, so that every reduction runs over the same contiguous values."""
    elements, chains, draws = ary.shape
    if chains < 2 or draws < 4 or not np.isfinite(ary).all():
        raise _Fallback
    flat = ary.reshape(elements, -1)
    with np.errstate(all="ignore"):
        z_split, ordered = _z_scale(_split_chains(ary))
        # with an even number of draws the split chains hold every draw: their sorted values
        # are the draws' own, for the quantiles and the median
        ordered = ordered if draws % 2 == 0 else np.sort(flat, axis=1)
        # ess tail
        low, high = _quantiles(ordered, (0.05, 0.95))
        low_ess = _ess(_split_chains(ary <= low[:, None, None]))
        high_ess = _ess(_split_chains(ary <= high[:, None, None]))
        ess_tail = np.where(high_ess < low_ess, high_ess, low_ess)  # min(low, high)
        # r_hat
        rhat_bulk = _rhat(z_split)
        folded = np.abs(ary - _median(ordered)[:, None, None])
        rhat_tail = _rhat(_z_scale(_split_chains(folded))[0])
        r_hat = np.where(rhat_tail > rhat_bulk, rhat_tail, rhat_bulk)  # max(bulk, tail)
        # mcse_mean
        ess_mean = _ess(_split_chains(ary))
        sims_c2 = (ary - flat.mean(axis=1)[:, None, None]) ** 2
        sims_c2_sum = sims_c2.reshape(elements, -1).sum(axis=1)
        var = sims_c2_sum / (chains * draws - 1)
        mcse_mean = np.sqrt(var / ess_mean)
        ess_bulk = _ess(z_split)
        # mcse_sd
        evar = sims_c2_sum / (chains * draws)
        ess_mean_sims = _ess(_split_chains(sims_c2))
        varvar = ((sims_c2**2).reshape(elements, -1).mean(axis=1) - evar**2) / ess_mean_sims
        varsd = varvar / evar / 4
        mcse_sd = np.sqrt(varsd)
    table = np.column_stack([mcse_mean, mcse_sd, ess_bulk, ess_tail, r_hat])
    if np.isnan(table).any():
        raise _Fallback
    return table


def _split_chains(ary: np.ndarray) -> np.ndarray:
    """Each chain's first and last halves as chains of their own (a middle draw left out)."""
    half = ary.shape[2] // 2
    return np.concatenate((ary[:, :, :half], ary[:, :, -half:]), axis=1)


def _z_scale(ary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normal scores of the ranks over all chains (ties: their average rank, as scipy's
    rankdata) with Blom's offset 3/8; and each element's values sorted."""
    elements = ary.shape[0]
    flat = ary.reshape(elements, -1)
    size = flat.shape[1]
    order = np.argsort(flat, axis=1)  # tied values share their average rank: any order will do
    ordered = np.take_along_axis(flat, order, axis=1)
    differs = ordered[:, 1:] != ordered[:, :-1]
    sorted_ranks = np.tile(np.arange(1.0, size + 1), (elements, 1))  # no ties: 1..size
    tied = ~differs.all(axis=1)
    if tied.any():  # each run of equal values gets the mean of its positions' ranks
        position = np.broadcast_to(np.arange(size), (int(tied.sum()), size))
        starts = np.ones(position.shape, dtype=bool)
        starts[:, 1:] = differs[tied]
        ends = np.ones(position.shape, dtype=bool)
        ends[:, :-1] = differs[tied]
        first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
        last = np.minimum.accumulate(np.where(ends, position, size)[:, ::-1], axis=1)[:, ::-1]
        sorted_ranks[tied] = 0.5 * (first + 1 + last + 1)
    ranks = np.empty(flat.shape)
    np.put_along_axis(ranks, order, sorted_ranks, axis=1)
    c = 3 / 8
    # scipy.stats.norm.ppf of these probabilities, all strictly between 0 and 1: ndtri * scale + loc
    z = special.ndtri((ranks - c) / (size - 2 * c + 1)) * 1.0 + 0.0
    return z.reshape(ary.shape), ordered


def _median(ordered: np.ndarray) -> np.ndarray:
    """np.median of each row of sorted values: the middle one, or the mean of the middle two."""
    half, odd = divmod(ordered.shape[1], 2)
    if odd:
        return ordered[:, half].copy()
    return (ordered[:, half - 1] + ordered[:, half]) / 2


def _quantiles(values: np.ndarray, probs: tuple[float, ...]) -> list[np.ndarray]:
    """scipy's mquantiles(alphap=1, betap=1) (R's type 7) of each row of sorted values, one
    array per prob."""
    n = values.shape[1]
    p = np.atleast_1d(np.asarray(probs))
    m = 1 + p * (1.0 - 1 - 1)
    aleph = n * p + m
    k = np.floor(aleph.clip(1, n - 1)).astype(int)
    gamma = (aleph - k).clip(0, 1)
    return [(1.0 - g) * values[:, j - 1] + g * values[:, j] for j, g in zip(k, gamma)]


def _rhat(ary: np.ndarray) -> np.ndarray:
    """Split R-hat of each ``ary[k]`` (ArviZ's ``_rhat``)."""
    num_samples = ary.shape[2]
    chain_mean = np.mean(ary, axis=2)
    chain_var = _variance(ary, ddof=1)
    between_chain_variance = num_samples * _variance(chain_mean, ddof=1)
    within_chain_variance = np.mean(chain_var, axis=1)
    return np.sqrt((between_chain_variance / within_chain_variance + num_samples - 1) / num_samples)


def _variance(x: np.ndarray, ddof: int) -> np.ndarray:
    """The variance over the last axis as ArviZ computes it: with numba (when installed) its
    one-pass sums in order (``stats_variance_1d``), else ``np.var``."""
    if not Numba.numba_flag:
        return np.var(x, axis=-1, ddof=ddof)
    n = x.shape[-1]
    total = np.cumsum(x, axis=-1)[..., -1]  # cumsum: the running sum, in order
    squares = np.cumsum(x * x, axis=-1)[..., -1]
    var = squares / n - (total / n) ** 2
    return var * (n / (n - ddof))


def _ess(ary: np.ndarray) -> np.ndarray:
    """Effective sample size of each ``ary[k]`` (chain, draw), ArviZ's ``_ess``: the
    autocovariances of all elements in one FFT, then Geyer's initial monotone sequence per
    element."""
    ary = np.asarray(ary, dtype=float)
    elements, n_chain, n_draw = ary.shape
    flat = ary.reshape(elements, -1)
    constant = (flat.max(axis=1) - flat.min(axis=1)) < np.finfo(float).resolution
    m = next_fast_len(2 * n_draw)
    centred = ary - ary.mean(axis=2, keepdims=True)
    transformed = np.fft.rfft(centred, n=m, axis=2)
    transformed *= np.conjugate(transformed)
    acov = np.fft.irfft(transformed, n=m, axis=2)[:, :, :n_draw]
    acov /= n_draw
    # the mean over chains at each lag, over contiguous values as ArviZ's np.mean(acov[:, t])
    acov_mean = np.ascontiguousarray(acov.transpose(0, 2, 1)).mean(axis=2)
    chain_mean = ary.mean(axis=2)
    mean_var = acov_mean[:, 0] * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus += _variance(chain_mean, ddof=1)
    ess = np.empty(elements)
    for k in range(elements):
        # Python floats where ArviZ has float64 scalars: the same double arithmetic, faster
        ess[k] = n_chain * n_draw if constant[k] else _geyer(acov_mean[k].tolist(), mean_var[k],
                                                             var_plus[k], n_chain, n_draw)
    return ess


def _geyer(acov_mean: list[float], mean_var: np.float64, var_plus: np.float64, n_chain: int,
           n_draw: int) -> float:
    """ArviZ's ``_ess`` after the autocovariances, statement for statement."""
    rho_hat_t = np.zeros(n_draw)
    rho_hat_even = 1.0
    rho_hat_t[0] = rho_hat_even
    rho_hat_odd = 1.0 - (mean_var - acov_mean[1]) / var_plus
    rho_hat_t[1] = rho_hat_odd

    # Geyer's initial positive sequence
    t = 1
    while t < (n_draw - 3) and (rho_hat_even + rho_hat_odd) > 0.0:
        rho_hat_even = 1.0 - (mean_var - acov_mean[t + 1]) / var_plus
        rho_hat_odd = 1.0 - (mean_var - acov_mean[t + 2]) / var_plus
        if (rho_hat_even + rho_hat_odd) >= 0:
            rho_hat_t[t + 1] = rho_hat_even
            rho_hat_t[t + 2] = rho_hat_odd
        t += 2

    max_t = t - 2
    # improve estimation
    if rho_hat_even > 0:
        rho_hat_t[max_t + 1] = rho_hat_even
    # Geyer's initial monotone sequence
    t = 1
    while t <= max_t - 2:
        if (rho_hat_t[t + 1] + rho_hat_t[t + 2]) > (rho_hat_t[t - 1] + rho_hat_t[t]):
            rho_hat_t[t + 1] = (rho_hat_t[t - 1] + rho_hat_t[t]) / 2.0
            rho_hat_t[t + 2] = rho_hat_t[t + 1]
        t += 2

    ess = n_chain * n_draw
    tau_hat = -1.0 + 2.0 * np.sum(rho_hat_t[: max_t + 1]) + np.sum(rho_hat_t[max_t + 1 : max_t + 2])
    tau_hat = max(tau_hat, 1 / np.log10(ess))
    ess = ess / tau_hat
    if np.isnan(rho_hat_t).any():
        ess = np.nan
    return ess


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
