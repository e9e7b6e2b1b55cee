"""InferenceData layout and diagnostics from synthetic engine output (no compilation)."""

import arviz as az
import numpy as np
import pytest

import hierstan
from hierstan.diagnostics import compare_loo, diagnose
from hierstan.engines import RawDraws, SamplerSettings
from hierstan.engines.native_engine import _read_draws
from hierstan.inference_data import to_inference_data
from hierstan.models import eight_schools

CHAINS, DRAWS, J = 4, 500, 8


def _raw(rng, *, stuck=False, divergent=0):
    mu = rng.normal(size=(CHAINS, DRAWS))
    if stuck:  # one chain somewhere else: R-hat must notice
        mu[0] += 5
    diverging = np.zeros((CHAINS, DRAWS))
    diverging.flat[:divergent] = 1
    return RawDraws(
        variables={
            "mu": mu,
            "tau": np.exp(rng.normal(size=(CHAINS, DRAWS))),
            "z_theta": rng.normal(size=(CHAINS, DRAWS, J)),
            "theta": rng.normal(size=(CHAINS, DRAWS, J)),
            "log_lik": rng.normal(size=(CHAINS, DRAWS, J)),
            "y_rep": rng.normal(size=(CHAINS, DRAWS, J)),
        },
        sampler={
            "lp__": rng.normal(size=(CHAINS, DRAWS)),
            "accept_stat__": rng.uniform(size=(CHAINS, DRAWS)),
            "stepsize__": np.full((CHAINS, DRAWS), 0.3),
            "treedepth__": np.full((CHAINS, DRAWS), 3.0),
            "n_leapfrog__": np.full((CHAINS, DRAWS), 7.0),
            "divergent__": diverging,
            "energy__": rng.normal(size=(CHAINS, DRAWS)),
        },
        engine="fake", engine_version="0", compiled_now=False,
    )


def _idata(raw, prior=None, parameterization="noncentered"):
    return to_inference_data(
        eight_schools.stan_data(parameterization=parameterization),
        SamplerSettings(chains=CHAINS, draws=DRAWS), raw, prior,
    )


def test_layout():
    rng = np.random.default_rng(0)
    idata = _idata(_raw(rng), prior=_raw(rng))
    assert set(idata.groups()) == {
        "posterior", "sample_stats", "log_likelihood", "posterior_predictive", "observed_data",
        "constant_data", "prior", "sample_stats_prior", "prior_predictive"}
    assert list(idata.posterior["theta"].dims) == ["chain", "draw", "school"]
    assert list(idata.posterior["school"].values) == list("ABCDEFGH")
    assert idata.posterior["mu"].dims == ("chain", "draw")
    assert set(idata.posterior.data_vars) == {"mu", "tau", "z_theta", "theta"}
    for group in ("log_likelihood", "posterior_predictive", "observed_data", "prior_predictive"):
        assert idata[group]["y"].dims[-1] == "school"
    assert idata.sample_stats["diverging"].dtype == bool
    assert idata.constant_data["sigma"].dims == ("school",)
    assert idata.posterior.attrs["family"] == "eight_schools"


def test_clean_draws_pass():
    report = diagnose(_idata(_raw(np.random.default_rng(1))))
    assert report.ok, report.problems
    assert report.divergences == 0 and report.rhat_max <= 1.01


def test_problems_are_reported_with_advice():
    idata = _idata(_raw(np.random.default_rng(2), stuck=True, divergent=7), parameterization="centered")
    report = diagnose(idata)
    assert report.divergences == 7
    assert any("7 divergent" in p and "parameterization='auto'" in p for p in report.problems)
    assert any("R-hat above 1.01 for mu" in p for p in report.problems)
    with pytest.warns(hierstan.HierstanWarning, match="divergent"):
        report.warn()


@pytest.mark.parametrize("used, advice", [
    (0.8, "raise adapt_delta above the 0.8 used (e.g. adapt_delta=0.9)"),
    (0.95, "raise adapt_delta above the 0.95 used (e.g. adapt_delta=0.99)"),
    (0.999, "adapt_delta is already 0.999, so a smaller step will not remove them"),
])
def test_divergence_advice_goes_beyond_the_adapt_delta_used(used, advice):
    """A fit at 0.999 was told to raise adapt_delta to 0.99 (issue 33): the advice follows the
    value the fit ran at."""
    stan_data = eight_schools.stan_data(parameterization="centered")
    raw = _raw(np.random.default_rng(2), divergent=3)
    idata = to_inference_data(stan_data, SamplerSettings(chains=CHAINS, draws=DRAWS, adapt_delta=used), raw)
    [problem] = [p for p in diagnose(idata).problems if "divergent" in p]
    assert advice in problem and "parameterization='auto'" in problem, problem
    assert "closer to 1" not in problem


def test_native_layout_conversion(tmp_path):
    # the driver writes one float64 row per draw: sampler columns, then each variable
    # column-major (Stan's CSV order: m.1.1, m.2.1, m.1.2, ...); size-0 variables have no column
    chains, draws = 3, 5
    rng = np.random.default_rng(1)
    m = rng.normal(size=(chains, draws, 2, 3))
    s = rng.normal(size=(chains, draws))
    lp = rng.normal(size=(chains, draws))
    names = ["lp__", "s"] + [f"m.{i + 1}.{j + 1}" for j in range(3) for i in range(2)]
    (tmp_path / "columns.txt").write_text("\n".join(names) + "\n")
    (tmp_path / "variables.tsv").write_text("s\t\nm\t2,3\nlog_lik\t0\n")
    for c in range(chains):
        rows = [[lp[c, d], s[c, d], *(m[c, d, i, j] for j in range(3) for i in range(2))]
                for d in range(draws)]
        np.asarray(rows, dtype=np.float64).tofile(tmp_path / f"chain-{c + 1}.bin")
    settings = SamplerSettings(chains=chains, draws=draws)
    variables, sampler = _read_draws(tmp_path, settings)
    assert list(variables) == ["s", "m"]
    np.testing.assert_array_equal(variables["m"], m)
    np.testing.assert_array_equal(variables["s"], s)
    np.testing.assert_array_equal(sampler["lp__"], lp)
    # a chain cut short (an interrupted run) is refused, not padded
    np.zeros(len(names) * 2).tofile(tmp_path / "chain-2.bin")
    with pytest.raises(hierstan.SamplingError, match="chain 2 wrote 2 of 5 draws"):
        _read_draws(tmp_path, settings)


def test_compare_loo_names_the_observations_psis_cannot_trust():
    rng = np.random.default_rng(0)
    shape = (4, 1000, 30)
    smooth = rng.normal(-1.0, 0.1, shape)
    # observation 7: its importance ratios 1/p(y_7 | theta) = exp(exp(z)) have a very heavy tail
    influential = smooth.copy()
    influential[..., 7] = -np.exp(rng.normal(0.0, 1.5, shape[:2]))
    fits = {name: az.from_dict(posterior={"mu": rng.normal(size=shape[:2])}, log_likelihood={"y": ll})
            for name, ll in (("smooth", smooth), ("influential", influential))}
    table, flagged = compare_loo(fits)
    assert table.loc["smooth", "bad_k"] == 0 and table.loc["influential", "bad_k"] == 1
    assert table.loc["influential", "pareto_k_max"] > 0.7 > table.loc["smooth", "pareto_k_max"]
    assert flagged[["model", "obs"]].values.tolist() == [["influential", 7]]
    assert {"elpd_loo", "se", "elpd_diff"} <= set(table.columns)


def test_pointwise_output_left_out_by_the_engine_gives_no_groups():
    # CmdStan writes no column for a size-0 log_lik / y_rep (a fit with pointwise=False)
    raw = _raw(np.random.default_rng(5))
    for name in ("log_lik", "y_rep"):
        del raw.variables[name]
    idata = _idata(raw)
    assert "log_likelihood" not in idata.groups() and "posterior_predictive" not in idata.groups()
    assert set(idata.posterior.data_vars) == {"mu", "tau", "z_theta", "theta"}
