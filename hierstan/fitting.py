"""The single path from prepared Stan data to checked, labelled InferenceData."""

from __future__ import annotations

import secrets

import arviz as az
import numpy as np

from .diagnostics import diagnose
from .engines import SamplerSettings, get_engine
from .engines.base import ADAPTATIONS, METRICS
from .errors import DataError, HierstanError
from .inference_data import to_inference_data
from .post_estimation import add_pointwise
from .programs import Program, load_program
from .progress import fit_done
from .stan_data import StanData
from .validation import listed


def sample(
    stan_data: StanData,
    *,
    engine: str = "auto",
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int | None = None,
    adapt_delta: float | None = None,
    max_treedepth: int = 10,
    prior: bool = False,
    progress: bool = True,
    threads: int | None = None,
    adaptation: str | None = None,
    metric: str | None = None,
) -> az.InferenceData:
    """Compile (cached), sample and check a prepared model.

    Parameters
    ----------
    stan_data
        A model's prepared data, e.g. from ``hierstan.eight_schools.stan_data``.
    engine
        ``"auto"`` (CmdStan if installed, else native), ``"cmdstan"`` or ``"native"`` (Stan's
        own sampler in a driver hierstan builds from the httpstan wheel's Stan library).
    chains, draws, warmup
        Number of chains, and post-warmup and warmup iterations per chain.
    seed
        Random seed; ``None`` draws one, which is recorded in the result's attributes.
    adapt_delta, max_treedepth
        NUTS target acceptance rate (default: the model's, 0.95 for the hierarchical models,
        as in rstanarm) and maximum tree depth.
    prior
        Also draw from the prior (same program, likelihood switched off): adds the ``prior``
        and ``prior_predictive`` groups.
    progress
        Show compile and sampling progress on stderr: per-chain bars in a terminal or a notebook,
        a line at the start and end of sampling in a log, none inside a long job (hierstan.sbc,
        hierstan.kfold, reproduce), whose one line counts the fit instead.
    threads
        Threads running the chains; ``None``: min(chains, cores). Fits run side by side share
        the machine's cores: give each ``threads=1``.
    adaptation
        The warmup: ``"hierstan"`` (the native engine's default: a diagonal metric estimated
        from draws and their gradients, re-estimated from short windows, then a final window
        that tunes the step size alone) or ``"stan"`` (Stan's windowed adaptation, CmdStan's
        and the only one CmdStan runs; with it both engines give the same draws for the same
        seed). ``None``: the engine's default. The fit's ``sample_stats.attrs["adaptation"]``
        and ``hierstan.diagnose`` say which ran.
    metric
        ``"diag"`` (a diagonal metric) or ``"low_rank"`` (the diagonal plus up to 10 directions
        in which the warmup's draws and gradients show the posterior correlated; hierstan's
        warmup on the native engine only). ``None``: the default, ``"diag"``.

    Returns
    -------
    arviz.InferenceData
        Posterior, sample_stats, log_likelihood, posterior_predictive, observed_data and
        constant_data (plus prior groups on request), labelled with the data's coordinates.
        Sampler problems are reported as :class:`hierstan.HierstanWarning`; the full report is
        ``hierstan.diagnose(idata)``.
    """
    check_sampler_arguments(engine=engine, chains=chains, draws=draws, warmup=warmup, seed=seed,
                            adapt_delta=adapt_delta, max_treedepth=max_treedepth, prior=prior,
                            progress=progress, threads=threads, adaptation=adaptation, metric=metric)
    if not isinstance(stan_data, StanData):
        raise HierstanError(f"sample: expected prepared data (a StanData, e.g. from a family's "
                            f"stan_data), got {type(stan_data).__name__}")
    settings = SamplerSettings(
        chains=chains,
        draws=draws,
        warmup=warmup,
        seed=secrets.randbelow(2**31) if seed is None else seed,
        adapt_delta=stan_data.adapt_delta if adapt_delta is None else adapt_delta,
        max_treedepth=max_treedepth,
        progress=progress,
        threads=threads,
        adaptation=adaptation,
        metric=metric,
    )
    chosen = get_engine(engine, settings)
    program = load_program(stan_data.program)
    _check_names(stan_data, program)
    posterior = chosen.sample(program, stan_data.data, settings)
    prior_draws = (
        chosen.sample(program, stan_data.with_data(prior_only=1).data, settings) if prior else None
    )
    idata = to_inference_data(stan_data, settings, posterior, prior_draws)
    if stan_data.rows is not None and "log_likelihood" not in idata.groups():
        add_pointwise(idata, stan_data.rows, seed=settings.seed, predict=stan_data.predict)
    diagnose(idata).warn()
    fit_done()
    return idata


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_sampler_arguments(*, engine: object = "auto", chains: object = 4, draws: object = 1000,
                            warmup: object = 1000, seed: object = None, adapt_delta: object = None,
                            max_treedepth: object = 10, prior: object = False, progress: object = True,
                            threads: object = None, adaptation: object = None,
                            metric: object = None) -> None:
    """Refuse a sampler argument of the wrong type or range (DataError naming it, as the engines'
    SamplerSettings does), before any data is prepared or program compiled: chains, draws,
    max_treedepth and threads (or None) are integers >= 1, warmup >= 0 (booleans are not integers
    here); seed None or an integer in [0, 2**31); adapt_delta None or a number strictly between 0
    and 1; prior and progress True or False; engine a name (which get_engine checks); adaptation
    None or one of the warmups the engines offer; metric None or one of the metrics."""
    if not isinstance(engine, str):
        raise DataError(f"engine must be a name such as 'auto', got {engine!r}")
    for name, value, low in (("chains", chains, 1), ("draws", draws, 1), ("warmup", warmup, 0),
                             ("max_treedepth", max_treedepth, 1), ("threads", threads, 1)):
        if name == "threads" and value is None:
            continue
        if not _is_int(value) or value < low:
            raise DataError(f"{name} must be an integer >= {low}"
                                + (" or None" if name == "threads" else "") + f", got {value!r}")
    if seed is not None and (not _is_int(seed) or not 0 <= seed < 2**31):
        raise DataError(f"seed must be None or an integer in [0, 2**31), got {seed!r}")
    if adapt_delta is not None:
        number = isinstance(adapt_delta, (int, float, np.integer, np.floating)) \
            and not isinstance(adapt_delta, (bool, np.bool_))
        if not number or not 0 < adapt_delta < 1:
            raise DataError(f"adapt_delta must be None or a number strictly between 0 and 1, "
                                f"got {adapt_delta!r}")
    if adaptation is not None and adaptation not in ADAPTATIONS:
        raise DataError(f"adaptation must be None or one of {', '.join(map(repr, ADAPTATIONS))}, "
                        f"got {adaptation!r}")
    if metric is not None and metric not in METRICS:
        raise DataError(f"metric must be None or one of {', '.join(map(repr, METRICS))}, got {metric!r}")
    for name, value in (("prior", prior), ("progress", progress)):
        if not isinstance(value, (bool, np.bool_)):
            raise DataError(f"{name} must be True or False, got {value!r}")


def _check_names(stan_data: StanData, program: Program) -> None:
    """Dims are named after the user's columns; one named like a variable of the fit would make
    the InferenceData unbuildable after the sampling, so refuse it before."""
    taken = program.outputs | set(stan_data.constant) | {stan_data.outcome}
    clash = sorted(set(stan_data.coords) & taken)
    if clash:
        raise DataError(f"column name(s) {listed(clash)} would name both a dimension "
                        f"and a variable of the fit ({program.name}); rename the column(s)")
