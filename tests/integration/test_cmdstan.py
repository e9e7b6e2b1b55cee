"""CmdStan through cmdstanpy against the native engine, family by family: the same layout and,
with the same Stan version (2.35) and seed, the same draws. `pytest -m cmdstan` runs this file.

CmdStan comes from ../shared/cmdstan/install.sh (what .ci/run calls) or `hierstan install-cmdstan`.
"""

import logging
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import hierstan
from hierstan.bench import run as bench
from hierstan.engines import CmdStanEngine, SamplerSettings
from hierstan.models import FAMILIES
from hierstan.post_estimation import add_pointwise
from hierstan.programs import Program

pytestmark = [
    pytest.mark.cmdstan,
    pytest.mark.skipif(not CmdStanEngine.available(),
                       reason="CmdStan is not installed (cmdstanpy.cmdstan_path() finds none)"),
]

SHORT = {"chains": 2, "draws": 150, "warmup": 150, "seed": 11, "progress": False}


def _fit(family: str, engine: str, **options):
    with warnings.catch_warnings(record=True):  # short chains may warn; the draws are compared
        return FAMILIES[family].fit(engine=engine, **{**SHORT, **options})


# every family's default variant, and the correlated intercept-slope variants (their programs'
# `correlated` branch; the default variants run the other)
CASES = sorted(FAMILIES) + ["radon/varying_intercept_slope_correlated", "thai/random_slope_correlated"]


@pytest.fixture(scope="module", params=CASES)
def both(request):
    """The family's variant on both engines, same seed, Stan's own adaptation on both."""
    family, _, variant = request.param.partition("/")
    options = {"variant": variant} if variant else {}
    return (request.param, _fit(family, "cmdstan", **options),
            _fit(family, "native", adaptation="stan", **options))


def _same_stan():
    import cmdstanpy

    return cmdstanpy.cmdstan_version()[:2] == (2, 35)


def test_same_layout(both):
    family, cmdstan, native = both
    assert set(cmdstan.groups()) == set(native.groups()), family
    for group in cmdstan.groups():
        ours, theirs = cmdstan[group], native[group]
        assert set(ours.data_vars) == set(theirs.data_vars), (family, group)
        assert dict(ours.sizes) == dict(theirs.sizes), (family, group)
        for name, coord in ours.coords.items():
            assert coord.values.tolist() == theirs.coords[name].values.tolist(), (family, group, name)
        for name, values in ours.data_vars.items():
            assert values.dims == theirs[name].dims, (family, group, name)
            assert values.dtype == theirs[name].dtype, (family, group, name)
    assert cmdstan.posterior.attrs["engine"] == "cmdstan"
    assert native.posterior.attrs["engine"] == "native"


def test_same_seed_gives_the_same_draws(both):
    family, cmdstan, native = both
    if not _same_stan():
        pytest.skip("draws match only when CmdStan has the wheel's Stan version (2.35)")
    for name, values in native.posterior.data_vars.items():
        # sig_figs=18: CmdStan's CSV round-trips every double, so the draws are identical
        np.testing.assert_array_equal(cmdstan.posterior[name], values, err_msg=f"{family} {name}")
    for group in ("log_likelihood", "posterior_predictive"):
        # computed in numpy from those draws: equal up to the order of BLAS sums (arrays of
        # either engine's memory layout)
        for name, values in native[group].data_vars.items():
            np.testing.assert_allclose(cmdstan[group][name], values, rtol=1e-12, atol=1e-12,
                                       err_msg=f"{family} {group} {name}")
    for name in ("lp", "diverging", "tree_depth", "n_steps"):
        np.testing.assert_array_equal(cmdstan.sample_stats[name], native.sample_stats[name],
                                      err_msg=f"{family} sample_stats {name}")


@pytest.mark.parametrize("family", ["radon", "thai"])
def test_programs_own_pointwise_output(family):
    # fits leave log_lik and y_rep out of the program (cmdstanpy drops the size-0 arrays) and
    # compute them in numpy; a program told to write them gives the same log_lik on CmdStan
    prepared = FAMILIES[family].prepare(None)
    with warnings.catch_warnings(record=True):
        stan = hierstan.sample(prepared.with_data(pointwise=1), engine="cmdstan", **SHORT)
    ours = stan.copy()
    del ours.log_likelihood, ours.posterior_predictive
    add_pointwise(ours, prepared.rows, seed=1)
    outcome = prepared.outcome
    np.testing.assert_allclose(ours.log_likelihood[outcome], stan.log_likelihood[outcome], rtol=1e-8)
    assert ours.posterior_predictive[outcome].shape == stan.posterior_predictive[outcome].shape


def test_adaptation_is_kept_with_the_fit(both):
    family, cmdstan, native = both
    for name in ("adapted_step_size", "inv_metric"):
        # cmdstanpy reads them back from the CSV's comment lines (6 significant digits)
        np.testing.assert_allclose(cmdstan.sample_stats.attrs[name], native.sample_stats.attrs[name],
                                   rtol=1e-5, err_msg=f"{family} {name}")
    assert native.sample_stats.attrs["adapted_step_size"].shape == (SHORT["chains"],)


def test_no_warmup_samples_without_adaptation():
    # CmdStan refuses adaptation without warmup; the step size stays at Stan's initial 1
    idata = _fit("eight_schools", "cmdstan", warmup=0)
    assert idata.posterior.sizes["draw"] == SHORT["draws"]
    assert np.all(idata.sample_stats["step_size"] == 1.0)
    # the native engine calls the same service without adaptation: the same draws; and its own
    # sampler loop (adaptation="hierstan", here with nothing to adapt) draws them too
    for adaptation in ("stan", "hierstan"):
        native = _fit("eight_schools", "native", warmup=0, adaptation=adaptation)
        np.testing.assert_array_equal(native.posterior["theta"], idata.posterior["theta"])
        np.testing.assert_array_equal(native.sample_stats["n_steps"], idata.sample_stats["n_steps"])
        assert "adapted_step_size" not in native.sample_stats.attrs


def test_cmdstan_refuses_hierstans_warmup_before_compiling():
    with pytest.raises(hierstan.DataError, match="native engine only"):
        _fit("eight_schools", "cmdstan", adaptation="hierstan")


# a program that rejects half of its proposals, so Stan reports non-fatal errors
REJECTING = """
parameters { real x; }
model {
  if (x > 0) reject("x must not be positive, got ", x);
  x ~ normal(0, 1);
}
"""


def _sample_rejecting(progress: bool):
    settings = SamplerSettings(chains=1, draws=50, warmup=50, seed=3, progress=progress)
    return CmdStanEngine().sample(Program("rejecting", REJECTING), {}, settings)


def test_progress_false_silences_cmdstanpy(capfd, caplog):
    raw = _sample_rejecting(progress=False)
    assert raw.variables["x"].max() <= 0
    assert capfd.readouterr() == ("", "")
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("cmdstanpy")]
    _sample_rejecting(progress=True)  # the messages silenced above exist
    assert any("Non-fatal error during sampling" in r.getMessage() for r in caplog.records)
    assert not logging.getLogger("cmdstanpy").disabled  # left as found


@pytest.mark.parametrize("engine", ["cmdstan", "native"])
def test_bench_without_pymc(tmp_path, engine):
    # pymc hidden as in an install without the bench extra
    (tmp_path / "pymc.py").write_text("raise ModuleNotFoundError(\"No module named 'pymc'\", name='pymc')\n")
    spec = bench.Spec(model="eight_schools", engine=engine, chains=1, draws=100, warmup=100)
    result = bench.measure(spec, env={"PYTHONPATH": str(tmp_path)})
    assert "error" not in result, result
    assert result["gradients"] >= 100 and result["ess_bulk_min"] > 0


def test_reproduce_on_cmdstan(tmp_path):
    # eight schools: the family with the fewest programs to compile (thai's reproduce, whose
    # pointwise=False fit failed on CmdStan, ran here until the suite's families moved to the
    # native engine and its five CmdStan compiles served no other test)
    run = subprocess.run([sys.executable, "-W", "ignore", "-m", "hierstan.cli", "reproduce", "--engine",
                          "cmdstan", "--families", "eight_schools", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    written = {p.name for p in tmp_path.iterdir()}
    assert {"eight_schools_summary.csv", "eight_schools_diagnostics.csv"} <= written
    assert "divergences" in (tmp_path / "eight_schools_diagnostics.csv").read_text()


def test_info_names_the_cmdstan_found():
    import cmdstanpy

    env = {k: v for k, v in os.environ.items() if k != "HIERSTAN_ENGINE"}
    info = subprocess.run([sys.executable, "-m", "hierstan.cli", "info"], capture_output=True, text=True,
                          check=True, env=env).stdout
    assert f"in {cmdstanpy.cmdstan_path()}" in info
    assert "cmdstan 2." in info and "engine used by default: cmdstan" in info
