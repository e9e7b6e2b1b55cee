"""The compile cache across processes, the command line, `reproduce` and the installed wheel."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[2]

# builds a tiny program (new to the cache given) and prints whether this process compiled it
COMPILE_TINY = """
import sys
from hierstan.engines import NativeEngine, SamplerSettings
from hierstan.programs import Program
code = "data { real m; } parameters { real x; } model { x ~ normal(m, 1); } // %s"
raw = NativeEngine().sample(Program("tiny", code % sys.argv[1]), {"m": 2.0},
                             SamplerSettings(chains=2, draws=300, warmup=200, seed=5, progress=False))
print(int(raw.compiled_now), round(float(raw.variables["x"].mean()), 6))
"""


def _python(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, check=True,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def test_concurrent_compiles_share_one_build(tmp_path):
    env = {"HIERSTAN_CACHE_DIR": str(tmp_path / "cache")}
    runs = [subprocess.Popen([sys.executable, "-c", COMPILE_TINY, "concurrent"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
            for _ in range(2)]
    outputs = [run.communicate(timeout=600) for run in runs]
    assert all(run.returncode == 0 for run in runs), [err[-2000:] for _, err in outputs]
    results = sorted(out.split() for out, _ in outputs)
    # one process compiled, the other waited for the lock and then found the build
    assert [r[0] for r in results] == ["0", "1"]
    assert results[0][1] == results[1][1]
    # a new process finds it too, and the draws are the same
    again = _python("-c", COMPILE_TINY, "concurrent", env=env).stdout.split()
    assert again == ["0", results[0][1]]
    assert abs(float(again[1]) - 2.0) < 0.25


def test_new_process_with_warm_cache_compiles_nothing(noncentered):
    # the session fixture compiled the program in the default cache; a fresh process reuses it
    script = ("import hierstan; i = hierstan.eight_schools.fit(draws=100, warmup=100, seed=1, "
              "progress=False); print(i.posterior.attrs['compiled_now'])")
    assert _python("-W", "ignore", "-c", script).stdout.strip() == "0"


def test_cli_list_info_fit(tmp_path):
    listing = _python("-m", "hierstan.cli", "list").stdout
    assert "eight_schools" in listing and "auto (default), noncentered, centered" in listing
    info = _python("-m", "hierstan.cli", "info").stdout
    assert "native" in info and "Stan 2.35.0" in info and "compile cache" in info
    out = tmp_path / "eight.nc"
    csv = tmp_path / "my schools.csv"
    csv.write_text((ROOT / "data" / "eight_schools.csv").read_text())
    summary = tmp_path / "summary.csv"
    fit = _python("-W", "ignore", "-m", "hierstan.cli", "fit", "eight-schools", "--data", str(csv),
                  "--chains", "2", "--draws", "300", "--warmup", "300", "--seed", "4", "--out", str(out),
                  "--prior", "tau_scale=2.5", "--summary", str(summary))
    assert "theta[H]" in fit.stdout and "divergent transitions" in fit.stdout
    # the deviates are left out of the printed summary, not of the file
    assert "z_theta" not in fit.stdout.split("(not shown")[0]
    assert "z_theta[A]" in pd.read_csv(summary, index_col=0).index
    idata = az.from_netcdf(out)
    assert idata.posterior.sizes["draw"] == 300
    assert idata.constant_data["tau_scale"].values.ravel().tolist() == [2.5]


def test_cli_reports_bad_input_without_a_trace(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("school,y,sigma\nA,1,0\nB,2,3\n")
    run = subprocess.run([sys.executable, "-m", "hierstan.cli", "fit", "eight_schools", "--data", str(csv)],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert "column 'sigma' must be > 0; row(s) 0" in run.stderr and "Traceback" not in run.stderr


def test_reproduce_writes_every_result(tmp_path):
    """`hierstan reproduce` on short chains: every file, and contents checked against the data and
    against what is known of these analyses, not against an earlier run."""
    _python("-W", "ignore", str(ROOT / "scripts" / "reproduce.py"), "--out", str(tmp_path),
            "--chains", "2", "--draws", "300", "--warmup", "300", "--sbc-sims", "3", "--folds", "2")
    expected = {"sbc", "sbc_summary.md", "radon_kfold.csv", "radon_kfold.md",
                "eight_schools_summary.csv", "eight_schools_diagnostics.csv", "eight_schools_diagnostics.md",
                "eight_schools_funnel.png", "eight_schools_log_tau_running_mean.png",
                "radon_summary.csv", "radon_counties.csv", "radon_loo.csv", "radon_loo.md",
                "radon_shrinkage.png", "radon_loo_pareto_k.csv",
                "multigroup_summary.csv", "multigroup_recovery.png",
                "thai_summary.csv", "thai_loo.csv", "thai_loo.md", "thai_loo_pareto_k.csv",
                "thai_probability_effects.csv", "thai_probability_effects.md", "thai_prior_predictive.png",
                "thai_posterior_predictive.png", "thai_forest_pped.png",
                "exam_summary.csv", "exam_league_table.csv", "exam_league_table.md", "exam_caterpillar.png",
                "exam_lkj_vs_bugs.csv", "exam_lkj_vs_bugs.md",
                "mathtest_summary.csv", "mathtest_estimates.csv", "mathtest_estimates.md",
                "mathtest_schools.csv", "mathtest_schools.md", "mathtest_shrinkage.png",
                "glmm_summary.csv", "glmm_summary.md", "README.md"}
    assert expected == {p.name for p in tmp_path.iterdir()}
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    read = lambda name, **kw: pd.read_csv(tmp_path / name, **kw)  # noqa: E731
    data = ROOT / "data"

    # eight schools: 2 x 300 draws per parameterization; mu's posterior mean is 4.4 (sd 3.3; posteriordb)
    diagnostics = read("eight_schools_diagnostics.csv", index_col=0)
    assert list(diagnostics.columns) == ["auto", "noncentered", "centered"]
    assert diagnostics.loc["draws"].tolist() == [600, 600, 600]
    summary = read("eight_schools_summary.csv").set_index(["parameterization", "parameter"])
    assert abs(summary.loc[("noncentered", "mu"), "mean"] - 4.4) < 1.5
    assert {f"theta[{s}]" for s in "ABCDEFGH"} <= set(summary.loc["noncentered"].index)

    # radon: the county table's counts and raw means are the data's; partial pooling beats
    # complete pooling in LOO (Gelman & Hill ch. 12: by about 50 elpd here)
    houses = pd.read_csv(data / "radon.csv").groupby("county")["log_radon"].agg(["size", "mean"])
    counties = read("radon_counties.csv")
    for _, table in counties.groupby("variant"):
        table = table.set_index("county").loc[houses.index]
        np.testing.assert_array_equal(table["n"], houses["size"])
        np.testing.assert_allclose(table["raw_mean"], houses["mean"])
    loo = read("radon_loo.csv", index_col=0)
    assert set(loo.index) == {"pooled", "unpooled", "varying_intercept", "varying_intercept_slope",
                              "group_predictor", "varying_intercept_slope_correlated"}
    assert loo.loc["varying_intercept", "elpd_loo"] > loo.loc["pooled", "elpd_loo"] + 20

    # multigroup: the simulation's true coefficients inside the hierarchical fit's 94% intervals
    # (each misses with probability 0.06: at most two of six)
    fitted = read("multigroup_summary.csv")
    fitted = fitted[(fitted["variant"] == "hierarchical") & fitted["parameter"].str.startswith("w[")]
    assert len(fitted) == 6
    assert ((fitted["hdi_3%"] <= fitted["true"]) & (fitted["true"] <= fitted["hdi_97%"])).sum() >= 4

    # thai: pre-primary education lowers the chance of repeating (Hox, ch. 6)
    effects = read("thai_probability_effects.csv").set_index(["variant", "scale", "quantity"])
    assert effects.loc[("random_slope", "typical group", "difference (1 - 0)"), "q95"] < 0
    assert set(read("thai_loo.csv", index_col=0).index) == {"intercept_only", "random_intercept",
                                                            "random_slope", "slope_only",
                                                            "random_slope_correlated"}

    # exam: the league table ranks schools as their pupils' scores do, once the fixed effects are
    # taken out (a school's mean least-squares residual estimates its intercept; Spearman 0.89
    # with the mean ranks of a 4 x 1000 draw fit)
    league = read("exam_league_table.csv").set_index("school")
    residual = _school_mean_residuals(pd.read_csv(data / "exam_schools.csv"))
    assert sorted(league.index) == sorted(residual.index)
    agreement = spearmanr(league.loc[residual.index, "mean_rank"], -residual).statistic
    assert agreement > 0.7, agreement

    # math test: empirical Bayes (optimised marginal likelihood) and MCMC agree on mu and sigma^2
    estimates = read("mathtest_estimates.csv").set_index("parameter")
    for parameter in ("mu", "sigma2"):
        row = estimates.loc[parameter]
        assert abs(row["eb_estimate"] - row["stan_mean"]) < 3 * row["eb_se"]
    schools = read("mathtest_schools.csv")
    scores = pd.read_csv(data / "mathtest.csv").groupby("school")["mathscore"].agg(["size", "mean"])
    np.testing.assert_array_equal(schools["n"], scores["size"].loc[schools["school"]])
    np.testing.assert_allclose(schools["raw_mean"], scores["mean"].loc[schools["school"]])

    # glmm: radon's varying intercept and floor slope as a formula; the basement-to-floor effect
    # is -0.65 (posterior sd 0.08 in the radon family's fit of the same model)
    formula = read("glmm_summary.csv", index_col=0)
    assert abs(formula.loc["b[floor]", "mean"] + 0.65) < 0.25
    assert formula.loc["sigma", "mean"] == pytest.approx(0.72, abs=0.05)

    # many fits: 3 SBC simulations of every family (ranks lie in 0..99), 2-fold radon
    families = {"eight_schools", "radon", "multigroup", "thai", "exam", "mathtest", "glmm"}
    assert {p.name for p in (tmp_path / "sbc").iterdir()} == families
    for family in families:
        folder = tmp_path / "sbc" / family
        assert {p.name for p in folder.iterdir()} == {"ranks.csv", "fits.csv", "tests.csv", "summary.txt",
                                                      "ecdf.png"}
        assert len(read(f"sbc/{family}/fits.csv")) == 3
        ranks = read(f"sbc/{family}/ranks.csv")
        assert ranks["rank"].between(0, 99).all() and set(ranks["simulation"]) <= {0, 1, 2}
    assert read("sbc/eight_schools/tests.csv")["parameter"].tolist()[:2] == ["mu", "tau"]
    kfold = read("radon_kfold.csv", index_col=0)
    assert set(kfold.index) == set(loo.index)
    # leaving out half the houses costs the pooled model little and the county effects more, but
    # partial pooling still wins by far (as in LOO above)
    assert kfold.loc["varying_intercept", "elpd_kfold"] > kfold.loc["pooled", "elpd_kfold"] + 20


def _school_mean_residuals(pupils: pd.DataFrame) -> pd.Series:
    """Per school, the mean residual of a least-squares fit of the score on the exam model's
    fixed effects (docs/models.md §5: lrt, lrt^2, verbal-reasoning band, girl, school gender and
    denomination)."""
    columns = [pupils["lrt"], pupils["lrt"] ** 2, pupils["vr_band"] == 1, pupils["vr_band"] == 2,
               pupils["girl"], pupils["school_gender"] == "boys", pupils["school_gender"] == "girls",
               *(pupils["school_denom"] == d for d in ("church_of_england", "roman_catholic", "other"))]
    X = np.column_stack([np.ones(len(pupils)), *columns]).astype(float)
    coefficients = np.linalg.lstsq(X, pupils["score"], rcond=None)[0]
    return (pupils["score"] - X @ coefficients).groupby(pupils["school"]).mean()


def test_wheel_ships_programs_and_data(tmp_path):
    pytest.importorskip("hatchling")
    _python("-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT))
    wheel = next(tmp_path.glob("hierstan-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "hierstan/stan_models/eight_schools.stan" in names
    assert "hierstan/stan_models/include/data/eight_schools.stan" in names
    assert "hierstan/data/eight_schools.csv" in names and "hierstan/data/README.md" in names
    assert "hierstan/engines/native_driver.cpp" in names  # the native engine compiles it
    target = tmp_path / "site"
    _python("-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = ("import hierstan.programs as p; print(p.resource_dir('stan_models')); "
              "print(len(hierstan.eight_schools.load_data()))")
    out = _python("-W", "ignore", "-c", "import hierstan; " + script, cwd=elsewhere,
                  env={"PYTHONPATH": str(target)}).stdout.split()
    assert out == [str(target / "hierstan" / "stan_models"), "8"]
