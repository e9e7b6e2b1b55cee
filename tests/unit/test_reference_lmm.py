"""The crossed-factors ML reference (tests/reference/crossed_lmm_ml.py) against statsmodels'
MixedLM on the designs MixedLM can fit: one factor with a correlated slope, and two crossed
factors with intercepts only (variance components)."""

import numpy as np
import pandas as pd
import pytest
from reference import crossed_lmm_ml

smf = pytest.importorskip("statsmodels.formula.api")


def simulated(seed=1, rows=1500):
    rng = np.random.default_rng(seed)
    g, h = rng.integers(0, 25, rows), rng.integers(0, 15, rows)
    x = rng.normal(size=rows)
    u = rng.multivariate_normal([0, 0], [[0.5, 0.1], [0.1, 0.2]], 25)
    y = 1 + 0.5 * x + u[g, 0] + u[g, 1] * x + rng.normal(0, 0.4, 15)[h] + rng.normal(0, 1, rows)
    return pd.DataFrame({"y": y, "x": x, "g": g, "h": h, "one": 1})


def test_one_factor_with_a_correlated_slope_matches_mixedlm():
    df = simulated()
    ours = crossed_lmm_ml.fit(df, "y", ["Intercept", "x"], {"g": ["Intercept", "x"]})
    ml = smf.mixedlm("y ~ x", df, groups="g", re_formula="~x").fit(reml=False)
    assert np.allclose(list(ours["b"].values()), ml.fe_params.to_numpy(), atol=1e-3)
    sd = np.sqrt(np.diag(ml.cov_re.to_numpy()))
    assert np.allclose(list(ours["sd"]["g"].values()), sd, rtol=2e-3)
    assert ours["corr"]["g"] == pytest.approx(ml.cov_re.to_numpy()[0, 1] / sd.prod(), abs=2e-3)
    assert ours["sigma"] == pytest.approx(np.sqrt(ml.scale), rel=1e-3)


def test_crossed_intercepts_match_mixedlm_variance_components():
    df = simulated()
    ours = crossed_lmm_ml.fit(df, "y", ["Intercept", "x"], {"g": ["Intercept"], "h": ["Intercept"]})
    ml = smf.mixedlm("y ~ x", df, groups="one", re_formula="0",
                     vc_formula={"g": "0 + C(g)", "h": "0 + C(h)"}).fit(reml=False)
    vc = dict(zip(ml.model.exog_vc.names, np.sqrt(ml.vcomp)))
    assert np.allclose(list(ours["b"].values()), ml.fe_params.to_numpy(), atol=1e-3)
    assert ours["sd"]["g"]["Intercept"] == pytest.approx(vc["g"], rel=5e-3)
    assert ours["sd"]["h"]["Intercept"] == pytest.approx(vc["h"], rel=5e-3)
    assert ours["sigma"] == pytest.approx(np.sqrt(ml.scale), rel=1e-3)
