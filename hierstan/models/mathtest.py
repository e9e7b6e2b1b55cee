"""Math test scores (docs/models.md §6): 1993 tenth-grade students in 100 schools, hierarchical normal.

y_ij ~ normal(theta_i, sigma^2), theta_i ~ normal(mu, tau^2 sigma^2), tau^2 a variance ratio.
Three fits of the same model: empirical Bayes (closed-form marginal likelihood maximised with
scipy), full Bayes in Stan (``auto``, the default: each school's form from the data; or
``centered`` or ``noncentered`` for all; one program, prior draws always non-centered), and
the original analysis's Gibbs sampler (``hierstan.models.mathtest_gibbs``) as an independent cross-check.

Speed: the scores enter the likelihood only through each school's count, sum and sum of squared
deviations, so a Stan gradient costs O(schools), not O(students); per-student ``log_lik`` and
``y_rep`` are still generated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.optimize import minimize

from ..errors import DataError, DataWarning, check_choice, warn_user
from ..family import Family
from ..inference_data import outcome_name
from ..parameterization import EffectChoice, advice, choose, group_regression, resolve
from ..post_estimation import Prediction, data_column, draws_of, group_draws
from ..prior_draws import Seed, as_truth, design_frame, gamma_rate, generator, supported_variant
from ..programs import data_file
from ..stan_data import StanData, column_attrs, group_dim
from ..validation import (
    _rows,
    distinct_columns,
    group_codes,
    numeric_column,
    prior_scales,
    require_columns,
    require_frame,
    row_labels,
)
from . import mathtest_gibbs

FAMILY = "mathtest"
DESCRIPTION = "Math test scores: 1993 students in 100 schools (hierarchical normal, EB and Gibbs too)"
#: The variants ``fit`` takes (``variant=``), the default first.
VARIANTS = ("hierarchical",)
PARAMETERIZATIONS = ("auto", "centered", "noncentered")
# Proper, weakly informative defaults for scores in points on a 0-100 test (shape/rate gammas):
# - lambda = 1/sigma^2 ~ gamma(1, 50): sigma^2 ~ inverse-gamma(1, 50), prior median sigma 8.5
#   points, 95% interval 3.7 to 44 points;
# - omega = 1/tau^2 ~ gamma(1, 0.25): tau^2 (between-school over within-school variance) has
#   median 0.36 and 95% interval 0.07 to 10, i.e. an intraclass correlation from 0.06 to 0.9;
# - mu ~ normal(50, 25) (phi = 1/25^2): the mean school anywhere from 1 to 99 points.
# The gamma shapes of 1 weigh as much as 2 observations (students for lambda, schools for omega),
# against 1993 students and 100 schools; phi is a hundredth of the data's precision about mu.
# Data on another scale need other values of b and nu, phi (priors=...).
#: Default prior settings, overridden by ``priors=`` (Stan data: no recompile).
PRIORS = {"a": 1.0, "b": 50.0, "c": 1.0, "d": 0.25, "nu": 50.0, "phi": 1 / 25**2}
#: Each column argument and its default column name in the shipped data.
COLUMNS = {"outcome": "mathscore", "group": "school"}
PARAMETERS = ("mu", "sigma2", "tau2")


def load_data() -> pd.DataFrame:
    """The shipped data (data/README.md): 1993 students, 100 schools of 4 to 32 students."""
    return pd.read_csv(data_file("mathtest.csv"))


def sufficient_statistics(y: np.ndarray, codes: np.ndarray, schools: int) -> pd.DataFrame:
    """Per school (codes 0..schools-1): count ``n``, ``sum`` and ``ss``, the sum of squared
    deviations from the school mean."""
    n = np.bincount(codes, minlength=schools)
    total = np.bincount(codes, weights=y, minlength=schools)
    ss = np.bincount(codes, weights=(y - (total / n)[codes]) ** 2, minlength=schools)
    return pd.DataFrame({"n": n, "sum": total, "ss": ss})


def stan_data(
    data: pd.DataFrame | None = None,
    *,
    variant: str = "hierarchical",
    parameterization: str = "auto",
    priors: dict[str, float] | None = None,
    **columns: str,
) -> StanData:
    """Validate ``data`` (default: the shipped data) and turn it into Stan data.

    Parameters
    ----------
    variant
        ``"hierarchical"``, the one variant.
    parameterization
        ``"auto"`` (default: each school's form from the data, hierstan.parameterization),
        ``"centered"`` (the data pin each school mean, see the Stan program) or
        ``"noncentered"`` (for few students per school). Prior draws (``prior=True``) are
        non-centered in all: without data the centered form is a funnel.
    priors
        Overrides of :data:`PRIORS` (``a``, ``b``, ``c``, ``d``, ``phi`` > 0; ``nu`` any number).
    columns
        Column names, defaults in :data:`COLUMNS` (``outcome``, ``group``). Scores must be
        finite and >= 0; a school may have a single student.
    """
    check_choice("mathtest variant", variant, VARIANTS)
    check_choice("parameterization", parameterization, PARAMETERIZATIONS)
    for name in columns:
        check_choice("mathtest column argument", name, COLUMNS)
    names = {**COLUMNS, **columns}
    outcome, school = names["outcome"], names["group"]
    what = "mathtest data"
    df = load_data() if data is None else require_frame(data, what)
    require_columns(df, [outcome, school], what)
    distinct_columns(what, outcome=outcome, group=school)
    y = numeric_column(df, outcome, what)
    negative = df.index[y < 0]
    if len(negative):
        raise DataError(f"{what}: column {outcome!r} holds test scores and must be >= 0; "
                        f"row(s) {_rows(negative)} are negative")
    # tau^2, the spread between schools, needs two schools at least
    codes, ids = group_codes(df, school, what, min_groups=2)
    dim = group_dim(school, ("student",), what)
    index, sizes = f"{dim}_index", f"{dim}_n"
    stats = sufficient_statistics(y, codes, len(ids))
    scales = prior_scales(PRIORS, priors, locations=("nu",))
    students = row_labels(df)
    def pilot() -> list[EffectChoice]:
        # school means and the pooled within-school variance: a REML pilot of theta's sd
        mean, variance, _ = group_regression(y, np.ones((len(y), 1)), codes, len(ids))
        return [choose("theta", "tau * sigma", mean[:, 0], variance[:, 0])]

    centered, choice = resolve(parameterization, len(ids), pilot, dim)
    return StanData(
        program="mathtest_hierarchical",
        data={"N": len(y), "J": len(ids), "y": y, "school": codes + 1,
              "school_n": stats["n"].to_numpy(), "school_sum": stats["sum"].to_numpy(),
              "school_ss": stats["ss"].to_numpy(), **scales, "pointwise": 0, "prior_only": 0,
              **centered},
        outcome=outcome,
        observed=y,
        coords={dim: ids, "student": students},
        dims={"theta": [dim], "z_theta": [dim], outcome: ["student"], index: ["student"],
              sizes: [dim]},
        constant={index: codes, sizes: stats["n"].to_numpy(), **scales},
        attrs={"family": FAMILY, "variant": variant, "parameterization": parameterization,
               "parameterization_choice": choice, "group_dim": dim, "group_index": index,
               **column_attrs(**names)},
        rows=df.copy(),
        adapt_delta=0.95,
        divergence_advice=advice(parameterization),
    )


def simulate(truth: dict[str, float] | None = None, *, data: pd.DataFrame | None = None,
             seed: Seed = 0) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Scores drawn from the model at a real design (default: the shipped schools and their
    sizes): theta_j ~ normal(mu, tau2 sigma2), score ~ normal(theta_j, sigma2). ``truth`` sets
    mu, sigma2 and tau2 (defaults: round values near the shipped data's posterior means, 48,
    85 and 0.28). Returns the data, with ``mathscore`` replaced, and the truth with theta.
    ``seed`` is numpy.random.default_rng's (a Generator is used as it is)."""
    frame = load_data() if data is None else data.copy()
    values = {"mu": 48.0, "sigma2": 85.0, "tau2": 0.28}
    for name, value in (truth or {}).items():
        check_choice("mathtest simulation parameter", name, values)
        values[name] = float(value)
    codes, _ = group_codes(frame, COLUMNS["group"], "simulation design")
    rng = np.random.default_rng(seed)
    theta = rng.normal(values["mu"], np.sqrt(values["tau2"] * values["sigma2"]), codes.max() + 1)
    frame[COLUMNS["outcome"]] = rng.normal(theta[codes], np.sqrt(values["sigma2"]))
    return frame, {**values, "theta": theta}


def simulate_prior(data: pd.DataFrame | None = None, *, variant: str = "hierarchical",
                   priors: dict[str, float] | None = None,
                   seed: Seed = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The precisions and mu drawn from the program's prior, then the school means and scores
    from them (:func:`simulate`): one draw of the joint model, for simulation-based calibration.

    lambda = 1/sigma^2 ~ gamma(a, b), omega = 1/tau^2 ~ gamma(c, d) (shape, rate), mu ~
    normal(nu, phi^-1/2), as ``fit(priors=priors)`` uses them. Scores are normal, so they can
    fall below 0, which :func:`stan_data` refuses: with the defaults (sigma up to 44 points, mu
    anywhere in 0-100) about 4 data sets in 10 have a negative score. Calibration runs that
    want every data set usable pass priors that keep the scores well above 0: a = 20, b = 1000
    (sigma about 7), c = 5, d = 1 (tau^2 about 0.2), nu = 50, phi = 0.04 (sd 5) gave none in
    2000 data sets at the shipped design.

    Parameters
    ----------
    data
        The design (default: the shipped data): column ``school``. Its ``mathscore`` is
        replaced; the frame passed in is not modified.
    variant
        ``"hierarchical"``, the one variant.
    priors
        Overrides of :data:`PRIORS`, as in :func:`stan_data`.
    seed
        Seed of ``numpy.random.default_rng`` (or a Generator): the same seed, the same output.

    Returns
    -------
    data : pandas.DataFrame
        The design with ``mathscore`` simulated.
    truth : dict of numpy.ndarray
        mu, lambda, omega, theta (one per school, in the fit's order), sigma2 and tau2.
    """
    supported_variant(FAMILY, variant, VARIANTS, VARIANTS)
    scales = prior_scales(PRIORS, priors, locations=("nu",))
    frame = design_frame(data, load_data, COLUMNS["outcome"], "mathtest design")
    stan_data(frame, priors=scales, parameterization="centered")  # the design checked as fit checks it
    rng = generator(seed)
    lam = gamma_rate(rng, scales["a"], scales["b"])
    omega = gamma_rate(rng, scales["c"], scales["d"])
    mu = rng.normal(scales["nu"], 1 / np.sqrt(scales["phi"]))
    frame, truth = simulate({"mu": mu, "sigma2": 1 / lam, "tau2": 1 / omega}, data=frame, seed=rng)
    truth = {**truth, "lambda": lam, "omega": omega}
    return frame, as_truth(truth, ("mu", "lambda", "omega", "theta", "sigma2", "tau2"))


def gibbs(data: pd.DataFrame | None = None, *, priors: dict[str, float] | None = None,
          **options: Any) -> az.InferenceData:
    """The original analysis's Gibbs sampler for the same model and priors as ``fit``;
    ``options`` are those of ``hierstan.models.mathtest_gibbs.sample_gibbs`` (chains, draws, warmup,
    seed) and the column names."""
    columns = {k: options.pop(k) for k in COLUMNS if k in options}
    return mathtest_gibbs.sample_gibbs(stan_data(data, priors=priors, **columns), **options)


# --- empirical Bayes ---------------------------------------------------------------------------


def marginal_log_likelihood(mu: float, sigma2: float, tau2: float, n: np.ndarray, ybar: np.ndarray,
                            ss: np.ndarray) -> float:
    """log p(y | mu, sigma^2, tau^2) with the school means integrated out, from per-school
    counts, means and sums of squared deviations: each school's scores are multivariate normal
    with covariance sigma^2 (I + tau^2 11'), whose determinant and inverse are closed-form."""
    spread = 1 + n * tau2
    return float(np.sum(-0.5 * n * np.log(2 * np.pi * sigma2) - ss / (2 * sigma2) - 0.5 * np.log(spread)
                        - n * (ybar - mu) ** 2 / (2 * sigma2 * spread)))


def _derivatives(theta: np.ndarray, n: np.ndarray, ybar: np.ndarray, ss: np.ndarray):
    """Gradient and Hessian of the marginal log-likelihood in (mu, sigma^2, tau^2).

    Written through v_i = sigma^2 (1 + n_i tau^2) / n_i, the variance of school i's mean (which
    is normal about mu), plus the within-school part ss_i / sigma^2 ~ chi^2(n_i - 1).
    """
    mu, s, t = theta
    d = ybar - mu
    v = s * (1 + n * t) / n
    f_v = -0.5 / v + 0.5 * d**2 / v**2
    f_vv = 0.5 / v**2 - d**2 / v**3
    gradient = np.array([np.sum(d / v), np.sum(f_v * v / s - 0.5 * (n - 1) / s + 0.5 * ss / s**2),
                         np.sum(f_v * s)])
    h_ss = np.sum(f_vv * (v / s) ** 2 + 0.5 * (n - 1) / s**2 - ss / s**3)
    h_st = np.sum(f_vv * v + f_v)
    h_mu = [-np.sum(1 / v), -np.sum(d / (v * s)), -np.sum(d * s / v**2)]
    hessian = np.array([h_mu, [h_mu[1], h_ss, h_st], [h_mu[2], h_st, np.sum(f_vv * s**2)]])
    return gradient, hessian


@dataclass(frozen=True)
class EmpiricalBayes:
    """Empirical Bayes fit: ``estimates`` (mu, sigma2, tau2 with standard errors from the
    curvature of the log-likelihood), ``schools`` (per school: n, raw mean, shrinkage factor
    ``kappa`` = 1 / (1 + n tau^2), shrunken mean and its sd given the estimates), ``covariance``
    of the estimates, the maximised ``log_likelihood`` and whether the optimiser ``converged``."""

    estimates: pd.DataFrame
    schools: pd.DataFrame
    covariance: pd.DataFrame
    log_likelihood: float
    converged: bool


def _maximise(n: np.ndarray, ybar: np.ndarray, ss: np.ndarray):
    """Maximise the marginal likelihood over x = (mu, log sigma^2, log tau^2) with BFGS, from
    method-of-moments starting values; the chain rule turns the natural gradient into x's."""
    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.array([x[0], np.exp(x[1]), np.exp(x[2])])
        gradient, _ = _derivatives(theta, n, ybar, ss)
        return -marginal_log_likelihood(*theta, n, ybar, ss), -gradient * np.r_[1.0, theta[1:]]

    s0 = ss.sum() / (n.sum() - len(n))
    t0 = max(np.var(ybar, ddof=1) / s0 - np.mean(1 / n), 0.01)
    return minimize(objective, np.array([ybar.mean(), np.log(s0), np.log(t0)]), jac=True, method="BFGS",
                    options={"gtol": 1e-8})


def empirical_bayes(data: pd.DataFrame | None = None, **columns: str) -> EmpiricalBayes:
    """Maximise the marginal likelihood of (mu, sigma^2, tau^2) over (mu, log sigma^2, log tau^2)
    with scipy; standard errors from the inverse of the (analytic) Hessian at the maximum.

    Data arguments as :func:`stan_data`. Needs 2 or more schools and one with 2 or more students.
    If tau^2 ends at its boundary 0 a :class:`hierstan.DataWarning` says so and its standard
    error is NaN (those of mu and sigma^2 are then conditional on tau^2 = 0).
    """
    prepared = stan_data(data, **columns)
    d = prepared.data
    n, ss = d["school_n"].astype(float), d["school_ss"]
    ybar = d["school_sum"] / n
    if d["N"] == d["J"]:
        raise DataError("mathtest data: every school has one student, so sigma^2 and tau^2 cannot be told "
                        "apart by the likelihood; empirical Bayes needs a school with 2 or more")
    result = _maximise(n, ybar, ss)
    estimate = np.array([result.x[0], *np.exp(result.x[1:])])
    mu, s, t = estimate
    gradient, hessian = _derivatives(estimate, n, ybar, ss)
    # at a maximum the inverse of minus the Hessian is the covariance on any smooth scale
    covariance = np.full((3, 3), np.nan)
    free = slice(0, 2) if t < 1e-6 else slice(0, 3)
    covariance[free, free] = np.linalg.inv(-hessian[free, free])
    # converged: BFGS may stop on a failed line search right at the optimum, so also accept a
    # Newton step far below one standard error in every free parameter
    step = np.linalg.solve(-hessian[free, free], gradient[free])
    converged = result.success or bool(np.all(np.abs(step) < 1e-4 * np.sqrt(np.diag(covariance)[free])))
    if t < 1e-6:
        warn_user("mathtest empirical Bayes: tau^2 is estimated at its boundary 0 (the school means "
                  "vary no more than their sampling noise); it has no standard error", DataWarning)
    kappa = 1 / (1 + n * t)
    dim = prepared.attrs["group_dim"]
    schools = pd.DataFrame({dim: prepared.coords[dim], "n": d["school_n"], "raw_mean": ybar,
                            "kappa": kappa, "eb_mean": ybar - kappa * (ybar - mu),
                            "eb_sd": np.sqrt(s * t / (1 + n * t))})
    return EmpiricalBayes(
        estimates=pd.DataFrame({"estimate": estimate, "se": np.sqrt(np.diag(covariance))},
                               index=pd.Index(PARAMETERS, name="parameter")),
        schools=schools, covariance=pd.DataFrame(covariance, index=PARAMETERS, columns=PARAMETERS),
        log_likelihood=marginal_log_likelihood(mu, s, t, n, ybar, ss), converged=converged)


# --- full Bayes summaries ----------------------------------------------------------------------


def school_table(idata: az.InferenceData) -> pd.DataFrame:
    """Per school, from a Stan or Gibbs fit: students, raw mean, posterior mean, sd and 90%
    interval of theta, and the posterior mean of the shrinkage factor kappa = 1 / (1 + n tau^2)
    (the weight of mu in E[theta | mu, sigma^2, tau^2, y])."""
    outcome, dim = outcome_name(idata), idata.posterior.attrs["group_dim"]
    sizes = idata.constant_data[f"{dim}_n"]
    codes = idata.constant_data[idata.posterior.attrs["group_index"]].values
    n = sizes.values
    raw = np.bincount(codes, weights=idata.observed_data[outcome].values, minlength=len(n)) / n
    theta = idata.posterior["theta"]
    kappa = 1 / (1 + sizes * idata.posterior["tau2"])
    draws = ("chain", "draw")
    return pd.DataFrame({dim: idata.posterior[dim].values, "n": n, "raw_mean": raw,
                         "mean": theta.mean(draws).values, "sd": theta.std(draws).values,
                         "q05": theta.quantile(0.05, draws).values, "q95": theta.quantile(0.95, draws).values,
                         "kappa": kappa.mean(draws).values})


def compare_estimates(eb: EmpiricalBayes, fits: dict[str, az.InferenceData]) -> pd.DataFrame:
    """mu, sigma^2 and tau^2: EB estimate and SE next to each fit's posterior mean, sd and MCSE."""
    table = eb.estimates.rename(columns={"estimate": "eb_estimate", "se": "eb_se"})
    for name, idata in fits.items():
        summary = az.summary(idata, var_names=list(PARAMETERS), round_to="none")
        for column, statistic in (("mean", "mean"), ("sd", "sd"), ("mcse", "mcse_mean")):
            table[f"{name}_{column}"] = summary[statistic].to_numpy()
    return table


def compare_schools(eb: EmpiricalBayes, idata: az.InferenceData) -> pd.DataFrame:
    """Per school: raw mean, EB mean and shrinkage, full-Bayes mean, 90% interval and shrinkage."""
    bayes = school_table(idata)
    columns = [eb.schools.columns[0], "n", "raw_mean", "eb_mean", "kappa"]
    table = eb.schools[columns].rename(columns={"kappa": "eb_kappa"})
    return table.assign(fb_mean=bayes["mean"], fb_q05=bayes["q05"], fb_q95=bayes["q95"],
                        fb_kappa=bayes["kappa"])


def extreme_small_schools(schools: pd.DataFrame, size_quantile: float = 0.1) -> pd.DataFrame:
    """Among the smallest schools (n at or below the ``size_quantile`` quantile of school sizes),
    the ones with the lowest and the highest raw mean: the original analysis's point that the
    most extreme raw means come from small schools and are shrunk the most (schools 17 and 67)."""
    small = schools[schools["n"] <= schools["n"].quantile(size_quantile)]
    return small.loc[[small["raw_mean"].idxmin(), small["raw_mean"].idxmax()]]


def shrinkage_plot(schools: pd.DataFrame, mu: float) -> Figure:
    """Left: raw school mean against the EB and full-Bayes means, point area by school size,
    the extreme small schools labelled. Right: the shrinkage factor against school size."""
    figure = Figure(figsize=(12, 5), layout="constrained")
    left, right = figure.subplots(1, 2)
    size = 6 * schools["n"]
    # each school's move, from its raw mean (on the diagonal) to its full-Bayes mean
    left.vlines(schools["raw_mean"], schools["raw_mean"], schools["fb_mean"], color="grey", lw=0.6)
    left.scatter(schools["raw_mean"], schools["fb_mean"], s=size, color="C0", alpha=0.6, label="full Bayes")
    left.scatter(schools["raw_mean"], schools["eb_mean"], s=size, facecolors="none", edgecolors="C3",
                 label="empirical Bayes")
    limits = [schools["raw_mean"].min() - 1, schools["raw_mean"].max() + 1]
    left.plot(limits, limits, color="black", lw=0.8, label="no pooling (y = x)")
    left.axhline(mu, color="grey", lw=0.8, ls="--", label="complete pooling (mu)")
    for _, row in extreme_small_schools(schools).iterrows():
        low = row["raw_mean"] < mu
        left.annotate(f"{schools.columns[0]} {row.iloc[0]} (n={row['n']})", (row["raw_mean"], row["fb_mean"]),
                      xytext=(30 if low else -10, -30 if low else -45), textcoords="offset points",
                      fontsize=9, ha="left" if low else "right", arrowprops={"arrowstyle": "-", "lw": 0.6})
    left.set(xlabel="raw school mean", ylabel="estimated school mean",
             title="School means shrink towards mu (point area: students)")
    left.legend(loc="upper left", fontsize="small")
    order = np.argsort(schools["n"].to_numpy())
    right.plot(schools["n"].to_numpy()[order], schools["eb_kappa"].to_numpy()[order], color="C3",
               label="empirical Bayes: 1 / (1 + n tau^2)")
    right.scatter(schools["n"], schools["fb_kappa"], s=12, color="C0", label="full Bayes: posterior mean")
    right.set(xlabel="students in school", ylabel="shrinkage factor kappa (weight of mu)",
              title="Small schools are shrunk the most")
    right.legend()
    return figure


def _predict(idata: az.InferenceData, newdata: pd.DataFrame, rng: np.random.Generator) -> Prediction:
    """A school's mean theta (a new school's from normal(mu, tau^2 sigma^2)); a student's score
    ~ normal(theta, sigma^2)."""
    post = idata.posterior
    group = data_column(idata, "group")
    require_columns(newdata, [group], "new data")
    sigma = np.sqrt(draws_of(post["sigma2"]))[:, None]

    def new(unseen: list[str]) -> dict[str, np.ndarray]:
        mu, tau2 = draws_of(post["mu"])[:, None], draws_of(post["tau2"])[:, None]
        return {"theta": mu + np.sqrt(tau2) * sigma * rng.standard_normal((len(mu), len(unseen)))}

    theta = group_draws(idata, newdata[group], ["theta"], new)["theta"]
    return Prediction.normal(theta, sigma)


family = Family(name=FAMILY, description=DESCRIPTION, prepare=stan_data, load_data=load_data,
                variants=VARIANTS, parameterizations=PARAMETERIZATIONS, priors=PRIORS, columns=COLUMNS,
                simulate=simulate, simulate_prior=simulate_prior, predict=_predict)
fit = family.fit
