"""The formula family's design, cells, checks and output layout (no compilation)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hierstan import DataError
from hierstan.formula import parse
from hierstan.models import glmm


def frame(seed=1, rows=240):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "y": rng.normal(size=rows), "x": rng.normal(size=rows), "p": rng.choice(list("abc"), rows),
        "g": rng.choice([f"g{i}" for i in range(12)], rows), "h": rng.choice(["m", "n", "o"], rows),
        "count": rng.poisson(3, rows), "exposure": rng.uniform(1, 2, rows),
    })


def test_blocks_follow_the_parentheses():
    df = frame()
    design = parse("y ~ x + C(p) + (1 + x | g) + (0 + x | h) + (1 | h)", df, "test")
    assert design.fixed == ("Intercept", "x", "C(p)[b]", "C(p)[c]")
    assert [(b.factor, b.terms) for b in design.blocks] == [("g", ("Intercept", "x")), ("h", ("x",)),
                                                             ("h", ("Intercept",))]
    g = design.blocks[0]
    # each row's level is its own label, its term values 1 and its x
    assert (np.array(g.levels)[g.codes] == df["g"].to_numpy()).all()
    assert np.array_equal(g.values, np.column_stack([np.ones(len(df)), df["x"]]))
    assert design.factors == ("g", "h")
    # treatment coding against the first level
    assert np.array_equal(design.X[:, 2], (df["p"] == "b").to_numpy(float))


def test_nesting_and_interactions_of_factors():
    df = frame()
    design = parse("y ~ 1 + (1 | g/h)", df, "test")
    assert [b.factor for b in design.blocks] == ["g", "g:h"]
    nested = design.blocks[1]
    labels = (df["g"] + ":" + df["h"]).to_numpy()
    assert (np.array(nested.levels)[nested.codes] == labels).all()
    assert len(nested.levels) == len(set(labels))


def test_offset_is_kept_apart_from_the_fixed_effects():
    df = frame()
    design = parse("count ~ x + offset(log(exposure)) + (1 | g)", df, "test")
    assert design.fixed == ("Intercept", "x")
    assert np.allclose(design.offset, np.log(df["exposure"]))


@pytest.mark.parametrize("formula, likelihood, fragment", [
    ("y ~ x + (1 | nowhere)", "gaussian", "'nowhere'"),
    ("y ~ x + (1 | g) + (1 | g)", "gaussian", "'1|g' appears twice"),
    ("log(y) ~ x", "gaussian", "must be one column"),
    ("y ~ x +", "gaussian", "does not parse"),
    ("y ~ x + frobnicate(x)", "gaussian", "calls 'frobnicate'"),
    ("y ~ scale(x) + (1 | g)", "gaussian", "calls 'scale'"),
    ("y ~ x + (1 | k)", "gaussian", "'k' must hold at least 2 levels"),
    ("y ~ x + c + (1 | g)", "gaussian", "'c' is constant"),
    ("y ~ x + x2 + (1 | g)", "gaussian", "'x2' is a linear combination"),
    ("y ~ x + (1 | row)", "gaussian", "a level per row"),
    ("y ~ x + (1 | g)", "poisson", "counts (integers >= 0)"),
    ("count ~ x + (1 | g)", "bernoulli", "0 or 1"),
])
def test_bad_formulas_and_outcomes_say_what_and_where(formula, likelihood, fragment):
    df = frame().assign(k="same", c=2.0, row=lambda d: np.arange(len(d)))
    df["x2"] = 2 * df["x"] - 1
    before = df.copy()
    with pytest.raises(DataError, match=fragment.replace("(", r"\(").replace(")", r"\)")
                       .replace("|", r"\|").replace("+", r"\+")):
        glmm.stan_data(df, formula=formula, likelihood=likelihood)
    pd.testing.assert_frame_equal(df, before)


def test_missing_values_and_trials_are_refused_with_their_rows():
    df = frame()
    df.loc[7, "x"] = np.nan
    with pytest.raises(DataError, match=r"'x'.*row\(s\) 7"):
        glmm.stan_data(df, formula="y ~ x + (1 | g)")
    df = frame().assign(n=5)
    df.loc[3, "count"] = 6
    with pytest.raises(DataError, match=r"trials column 'n'.*row\(s\) 3"):
        glmm.stan_data(df, formula="count ~ x + (1 | g)", likelihood="binomial", trials="n")
    with pytest.raises(DataError, match="trials="):
        glmm.stan_data(df, formula="count ~ x + (1 | g)", likelihood="poisson", trials="n")


def test_gaussian_cells_keep_the_likelihood():
    # rows repeat their design (x on a grid), so cells merge them
    df = frame(rows=400).assign(x=lambda d: np.round(d["x"]))
    prepared = glmm.stan_data(df, formula="y ~ x + (1 + x | g)")
    d = prepared.data
    assert d["N"] < len(df) and d["weight"].sum() == len(df)
    rng = np.random.default_rng(2)
    b0, b1, sigma = 0.3, -0.2, 0.9
    u = rng.normal(0, 0.5, (12, 2))
    design = parse("y ~ x + (1 + x | g)", df, "test")
    g = design.blocks[0]
    rows = stats.norm.logpdf(df["y"], b0 + b1 * df["x"] + (u[g.codes] * g.values).sum(1), sigma).sum()
    eta = (b0 + d["X_mean"] @ [b1]) + d["X"] @ [b1] + (u[d["level"][:, 0] - 1] * d["Z"]).sum(1)
    cells = (-len(df) * np.log(sigma * np.sqrt(2 * np.pi))
             - (d["y_ss"].sum() + (d["weight"] * (d["y_mean"] - eta) ** 2).sum()) / (2 * sigma**2))
    assert cells == pytest.approx(rows, rel=1e-12)


def test_count_cells_sum_their_rows():
    df = frame().assign(x=lambda d: np.round(d["x"]), n=6)
    df["count"] = np.minimum(df["count"], 6)
    for likelihood, trials in (("poisson", None), ("binomial", "n")):
        d = glmm.stan_data(df, formula="count ~ x + (1 | g)", likelihood=likelihood, trials=trials).data
        assert d["y_count"].sum() == df["count"].sum() and d["weight"].sum() == len(df)
        if trials:
            assert d["trials"].sum() == 6 * len(df)
    d = glmm.stan_data(df, formula="count ~ x + (1 | g)", likelihood="negative_binomial").data
    assert d["N"] == len(df)  # no cells: its likelihood does not add up over rows


def test_autoscaled_priors_and_overrides():
    df = frame()
    d = glmm.stan_data(df, formula="y ~ x + (1 + x | g)").data
    assert d["coef_scale"][0] == pytest.approx(2.5 * df["y"].std(ddof=0) / df["x"].std(ddof=0))
    assert d["sd_scale"] == pytest.approx([df["y"].std(ddof=0), df["y"].std(ddof=0) / df["x"].std(ddof=0)])
    assert d["intercept_location"] == pytest.approx(df["y"].mean())
    d = glmm.stan_data(df, formula="count ~ x + (1 | g)", likelihood="poisson",
                       priors={"coef_scale": 1.0}).data
    assert d["coef_scale"][0] == pytest.approx(1 / df["x"].std(ddof=0)) and d["intercept_location"] == 0
    with pytest.raises(DataError, match="unknown prior setting 'slope'"):
        glmm.stan_data(df, formula="y ~ x + (1 | g)", priors={"slope": 1.0})


def test_absolute_priors_and_the_scale_priors_form():
    df = frame()
    priors = {"autoscale": 0, "scale_prior": "half_cauchy", "intercept_scale": 10.0, "coef_scale": 10.0,
              "sd_scale": 5.0, "sigma_scale": 5.0}
    d = glmm.stan_data(df, formula="y ~ x + (1 + x | g)", priors=priors).data
    assert d["coef_scale"] == pytest.approx([10.0]) and d["sd_scale"] == pytest.approx([5.0, 5.0])
    assert (d["intercept_location"], d["intercept_scale"], d["sigma_scale"]) == (0.0, 10.0, 5.0)
    assert d["intercept_at_zero"] == 1 and d["scale_prior"] == 3
    default = glmm.stan_data(df, formula="y ~ x + (1 | g)").data
    assert default["intercept_at_zero"] == 0 and default["scale_prior"] == 1
    assert priors["autoscale"] == 0 and len(priors) == 6  # the caller's dict is left as it was
    for bad, fragment in [({"autoscale": 2}, "'autoscale' must be 1"),
                          ({"autoscale": "0"}, "'autoscale' must be 1"),
                          ({"scale_prior": "cauchy"}, "'cauchy'; choose one of: exponential, half_normal"),
                          ({"sd_scale": "wide"}, "'sd_scale' must be a number")]:
        with pytest.raises(Exception, match=fragment):
            glmm.stan_data(df, formula="y ~ x + (1 | g)", priors=bad)


def test_two_term_blocks_record_each_levels_centre_and_leading_centered_terms():
    df = frame()
    design = parse("y ~ x + (1 + x | g) + (1 | h)", df, "t")
    d = glmm.stan_data(df, formula="y ~ x + (1 + x | g) + (1 | h)").data
    g = design.blocks[0]
    means = df.groupby("g")["x"].mean().reindex(g.levels).to_numpy()
    # g's levels: their mean of x; h's (one term): 0
    assert d["level_centre"] == pytest.approx(np.concatenate([means, np.zeros(3)]))
    assert all(0 <= k <= 2 for k in d["centered"][:12]) and all(0 <= k <= 1 for k in d["centered"][12:])
    forced = glmm.stan_data(df, formula="y ~ x + (1 + x | g) + (1 | h)", parameterization="centered").data
    assert list(forced["centered"]) == [2] * 12 + [1] * 3


def test_flat_draws_become_labelled_effects_and_correlations():
    df = frame()
    prepared = glmm.stan_data(df, formula="y ~ x + (1 + x + C(p) | g) + (1 | h)")
    d = prepared.data
    assert list(d["P"]) == [4, 1] and list(d["J"]) == [12, 3]
    rng = np.random.default_rng(0)
    flat = {"b": rng.normal(size=(2, 3, 2)), "sigma": rng.uniform(size=(2, 3, 1)),
            "phi": np.zeros((2, 3, 0)), "u": rng.normal(size=(2, 3, 12 * 4 + 3)),
            "tau": rng.uniform(size=(2, 3, 5)), "cor": rng.uniform(-1, 1, size=(2, 3, 6))}
    out = prepared.regroup(flat)
    assert set(out) == {"b", "sigma", "r_g", "sd_g", "corr_g", "r_h", "sd_h"}
    # level 2 of g, term 3 is u's entry (2 - 1) * 4 + 3 (1-based), level by level
    assert out["r_g"][1, 2, 1, 2] == flat["u"][1, 2, 4 + 2]
    assert out["r_h"][0, 0, 2, 0] == flat["u"][0, 0, 48 + 2]
    # the program's lower triangle, row by row: (2,1), (3,1), (3,2), (4,1), ...
    c = flat["cor"][0, 1]
    assert out["corr_g"][0, 1, 2, 1] == c[2] == out["corr_g"][0, 1, 1, 2]
    assert out["corr_g"][0, 1, 3, 0] == c[3] and np.all(np.diagonal(out["corr_g"], axis1=2, axis2=3) == 1)
    assert prepared.coords["g_term"] == ["Intercept", "x", "C(p)[b]", "C(p)[c]"]
    assert prepared.dims["corr_g"] == ["g_term", "g_term2"] and "corr_h" not in prepared.dims


def fake_fit(df, formula, likelihood="gaussian", seed=0, chains=2, draws=500):
    """InferenceData shaped as a glmm fit of ``df``, its draws made up (no sampling)."""
    import arviz as az

    prepared = glmm.stan_data(df, formula=formula, likelihood=likelihood)
    d = prepared.data
    rng = np.random.default_rng(seed)
    q, effects = int(np.sum(d["P"])), int(np.dot(d["J"], d["P"]))
    pairs = int(sum(p * (p - 1) // 2 for p in d["P"]))
    flat = {"b": rng.normal(size=(chains, draws, d["has_intercept"] + d["K"])),
            "sigma": rng.uniform(0.5, 1, (chains, draws, 1)), "phi": np.zeros((chains, draws, 0)),
            "u": rng.normal(size=(chains, draws, effects)), "tau": rng.uniform(0.5, 2, (chains, draws, q)),
            "cor": np.full((chains, draws, pairs), 0.6)}
    posterior = prepared.regroup(flat)
    coords = {k: v for k, v in prepared.coords.items() if k != "observation"}
    dims = {k: v for k, v in prepared.dims.items() if k in posterior}
    return az.from_dict(posterior=posterior, coords=coords, dims=dims, posterior_attrs=prepared.attrs)


def test_predictions_code_new_rows_as_the_fit_did():
    df = frame()
    formula = "y ~ x + C(p) + (1 + x | g)"
    idata = fake_fit(df, formula)
    post = idata.posterior
    # new rows with only the non-reference levels of p: coded against the fit's reference "a"
    new = pd.DataFrame({"x": [0.5, -1.0], "p": ["c", "b"], "g": ["g3", "g7"]})
    eta = glmm._predict(idata, new, np.random.default_rng(1)).linear
    b = post["b"].stack(s=("chain", "draw")).transpose("s", "coef").values
    r = post["r_g"].stack(s=("chain", "draw")).transpose("s", "g", "g_term")
    g3, g7 = r.sel(g="g3").values, r.sel(g="g7").values
    expected = np.column_stack([b[:, 0] + 0.5 * b[:, 1] + b[:, 3] + g3[:, 0] + 0.5 * g3[:, 1],
                                b[:, 0] - 1.0 * b[:, 1] + b[:, 2] + g7[:, 0] - 1.0 * g7[:, 1]])
    assert np.allclose(eta, expected)
    with pytest.raises(DataError, match="'p' holds \\['z'\\]"):
        glmm._predict(idata, new.assign(p=["z", "a"]), np.random.default_rng(1))


def test_a_new_level_draws_from_the_population():
    df = frame()
    idata = fake_fit(df, "y ~ 1 + (1 + x | g)", draws=4000)
    post = idata.posterior
    new = pd.DataFrame({"x": [0.0, 1.0, 0.0], "g": ["new", "new", "other"]})
    eta = glmm._predict(idata, new, np.random.default_rng(2)).linear - post["b"].values.reshape(-1, 1)
    sd = post["sd_g"].stack(s=("chain", "draw")).transpose("s", "g_term").values
    # intercept effect / its sd is standard normal; rows of one new level share it
    z = eta[:, 0] / sd[:, 0]
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05
    slope = eta[:, 1] - eta[:, 0]
    # correlation 0.6 between a level's intercept and slope effects
    assert np.corrcoef(eta[:, 0] / sd[:, 0], slope / sd[:, 1])[0, 1] == pytest.approx(0.6, abs=0.05)
    assert abs(np.corrcoef(eta[:, 0], eta[:, 2])[0, 1]) < 0.05


def test_only_written_names_are_taken_from_the_users_columns():
    # a column may be named like a local of the program's loops (c, k, n, A): those are not
    # written out; the program's outputs are refused (hierstan.fitting._check_names)
    from hierstan.programs import load_program

    outputs = load_program("glmm").outputs
    assert {"b", "u", "tau", "cor", "sigma", "log_lik", "y_rep"} <= outputs
    assert not {"c", "k", "n", "p", "A", "E", "U"} & outputs
