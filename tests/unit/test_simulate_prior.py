"""simulate_prior, every family (no compilation): reproducible, the design kept, the truth shaped and
ordered as the posterior, and the numpy prior draws against their closed forms (the LKJ sampler
against its beta marginal). tests/integration/test_simulate_prior.py compares them with Stan's."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hierstan import DataError, UnknownNameError
from hierstan.models import FAMILIES, eight_schools, exam, mathtest, multigroup, radon, thai
from hierstan.prior_draws import gamma_rate, half_cauchy, half_normal, inv_gamma, lkj_cholesky, lkj_corr
from hierstan.validation import group_codes

# priors under which every family's default variant gives ordinary data (the defaults of exam
# overflow; see its simulate_prior)
MODERATE = {"eight_schools": {}, "radon": {}, "multigroup": {}, "thai": {}, "mathtest": {},
            "exam": {"coef_scale": 0.1}, "glmm": {}}

# user-facing posterior variables of every variant with a simulator and their shapes at the
# shipped design, in the posterior's order (recorded from fits: chains=1, draws=50)
POSTERIOR = {
    ("eight_schools", "hierarchical"): {"mu": (), "tau": (), "theta": (8,)},
    ("radon", "varying_intercept_slope"): {"sigma_y": (), "mu_alpha": (), "sigma_alpha": (), "mu_beta": (),
                                           "sigma_beta": (), "alpha": (85,), "beta": (85,)},
    ("radon", "varying_intercept"): {"sigma_y": (), "mu_alpha": (), "sigma_alpha": (), "beta": (),
                                     "alpha": (85,)},
    ("radon", "group_predictor"): {"sigma_y": (), "gamma_0": (), "gamma_1": (), "sigma_alpha": (),
                                   "beta": (), "alpha": (85,)},
    ("radon", "pooled"): {"sigma_y": (), "alpha": (), "beta": ()},
    ("radon", "unpooled"): {"sigma_y": (), "alpha": (85,), "beta": (85,)},
    ("radon", "varying_intercept_slope_correlated"): {"sigma_y": (), "mu_alpha": (), "sigma_alpha": (),
                                                      "mu_beta": (), "sigma_beta": (), "alpha": (85,),
                                                      "beta": (85,), "Omega": (2, 2)},
    ("multigroup", "hierarchical"): {"tau": (3,), "sigma": (), "mu_w": (3,), "w": (2, 3), "Omega": (3, 3)},
    ("multigroup", "pooled"): {"w": (3,), "sigma": ()},
    ("multigroup", "separate"): {"w": (2, 3), "sigma": ()},
    ("thai", "random_slope"): {"mu_alpha": (), "sigma_alpha": (), "mu_beta": (), "sigma_beta": (),
                               "alpha": (411,), "beta": (411,)},
    ("thai", "intercept_only"): {"mu_alpha": (), "sigma_alpha": (), "alpha": (411,)},
    ("thai", "random_intercept"): {"mu_alpha": (), "sigma_alpha": (), "beta": (1,), "alpha": (411,)},
    ("thai", "slope_only"): {"alpha": (), "mu_beta": (), "sigma_beta": (), "beta": (411,)},
    ("thai", "random_slope_correlated"): {"mu_alpha": (), "sigma_alpha": (), "mu_beta": (), "sigma_beta": (),
                                          "alpha": (411,), "beta": (411,), "Omega": (2, 2)},
    ("exam", "lkj"): {"theta": (), "beta": (8,), "gamma": (3,), "phi": (), "tau": (3,), "Omega": (3, 3),
                      "Sigma": (3, 3), "a": (38, 3)},
    ("exam", "bugs"): {"theta": (), "beta": (8,), "gamma": (3,), "phi": (), "Sigma": (3, 3), "tau": (3,),
                       "Omega": (3, 3), "a": (38, 3)},
    ("mathtest", "hierarchical"): {"mu": (), "lambda": (), "omega": (), "theta": (100,), "sigma2": (),
                                   "tau2": ()},
    ("glmm", "formula"): {"b": (2,), "sigma": (), "r_county": (85, 2), "sd_county": (2,),
                          "corr_county": (2, 2)},
}


def _same(first, second):
    frame, truth = first
    again, truth_again = second
    return frame.equals(again) and truth.keys() == truth_again.keys() and all(
        np.array_equal(truth[name], truth_again[name]) for name in truth)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_default_variant_is_reproducible_and_keeps_the_design(name):
    family = FAMILIES[name]
    design = family.load_data()
    before = design.copy()
    # a formula family's outcome is its default formula's
    outcome = family.columns.get("outcome") or family.prepare(None).outcome
    priors = MODERATE[name]
    frame, truth = family.simulate_prior(design, priors=priors, seed=5)
    assert design.equals(before)  # the input is not modified
    assert _same((frame, truth), family.simulate_prior(design, priors=priors, seed=5))
    assert _same((frame, truth), family.simulate_prior(priors=priors, seed=5))  # design defaults to the data
    assert _same((frame, truth), family.simulate_prior(design, priors=priors,
                                                       seed=np.random.default_rng(5)))
    assert not _same((frame, truth), family.simulate_prior(design, priors=priors, seed=6))
    # the outcome alone is new; every other column, the index and the column order are kept
    assert list(frame.columns) == list(design.columns) and frame.index.equals(design.index)
    pd.testing.assert_frame_equal(frame.drop(columns=outcome), design.drop(columns=outcome))
    assert not np.array_equal(frame[outcome].to_numpy(), design[outcome].to_numpy())
    assert np.isfinite(frame[outcome].to_numpy(float)).all()
    # the simulated data are data the family accepts (a forced form: no pilot to run)
    form = {"parameterization": "centered"} if family.parameterizations else {}
    family.prepare(frame, priors=priors, **form)


@pytest.mark.parametrize("name, variant", sorted(POSTERIOR))
def test_truth_has_the_posteriors_names_and_shapes(name, variant):
    family = FAMILIES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # exam's default priors overflow
        _, truth = family.simulate_prior(variant=variant, seed=1)
    expected = POSTERIOR[(name, variant)]
    assert list(truth) == list(expected)
    assert {k: v.shape for k, v in truth.items()} == expected
    assert all(v.dtype == float for v in truth.values())


def test_every_family_declares_its_simulator():
    assert all(family.simulate_prior is not None for family in FAMILIES.values())
    simulated = {(name, variant) for name, family in FAMILIES.items() for variant in family.variants
                 if (name, variant) in POSTERIOR}
    assert simulated == set(POSTERIOR)


def test_unsupported_and_unknown_variants_and_priors_are_refused():
    with pytest.raises(DataError, match="supported variants: random_slope, intercept_only"):
        thai.simulate_prior(variant="covariates")
    with pytest.raises(UnknownNameError, match="unknown radon variant 'hierarchical'"):
        radon.simulate_prior(variant="hierarchical")
    with pytest.raises(DataError, match="unknown prior setting 'tau'"):
        eight_schools.simulate_prior(priors={"tau": 1.0})
    with pytest.raises(DataError, match="prior setting 'b' must be finite and > 0"):
        mathtest.simulate_prior(priors={"b": -1.0})
    with pytest.raises(DataError, match="unknown prior setting 'w_scale'"):
        multigroup.simulate_prior(priors={"w_scale": 1.0})  # pooled's, not hierarchical's
    # a design the fit would refuse is refused before anything is drawn
    with pytest.raises(DataError, match="at least 2"):
        eight_schools.simulate_prior(eight_schools.load_data().head(1))


def test_a_design_without_its_outcome_gets_one():
    design = mathtest.load_data().drop(columns="mathscore")
    frame, _ = mathtest.simulate_prior(design, seed=2)
    assert list(frame.columns) == ["school", "mathscore"]


# --- groups in the fit's order -----------------------------------------------------------------


def test_radon_effects_follow_the_fits_county_order():
    # counties named so that first appearance, text order and natural order all differ; a
    # tiny sigma_y makes each basement house's log radon its county's intercept
    design = pd.DataFrame({"county": ["c10", "c2", "c1", "c2", "c10", "c1"], "floor": [0, 1, 0, 0, 1, 1],
                           "log_radon": 0.0})
    frame, truth = radon.simulate_prior(design, priors={"sigma_scale": 1e-9}, seed=3)
    codes, labels = group_codes(frame, "county", "test")
    assert labels == ["c1", "c2", "c10"]
    for variant in ("varying_intercept_slope", "unpooled"):
        frame, truth = radon.simulate_prior(design, variant=variant, priors={"sigma_scale": 1e-9}, seed=3)
        expected = truth["alpha"][codes] + truth["beta"][codes] * frame["floor"]
        np.testing.assert_allclose(frame["log_radon"], expected, atol=1e-4)


def test_mathtest_school_means_follow_the_fits_order():
    design = pd.DataFrame({"school": [30, 4, 4, 30, 100, 100, 4], "mathscore": 1.0})
    # lambda ~ gamma(1e6, 1): sigma about 1e-3, so each score is its school's theta
    frame, truth = mathtest.simulate_prior(design, priors={"a": 1e6, "b": 1.0, "nu": 50.0}, seed=4)
    codes, _ = group_codes(design, "school", "test")
    np.testing.assert_allclose(frame["mathscore"], truth["theta"][codes], atol=0.02)
    assert truth["sigma2"] == pytest.approx(1 / truth["lambda"]) and truth["tau2"] == 1 / truth["omega"]


@pytest.mark.parametrize("variant", multigroup.VARIANTS)
def test_multigroup_coefficients_by_group_and_predictor(variant):
    # groups given as b, a: the fit orders them a, b; without noise y is exactly X w_group
    design = multigroup.simulate(G=2, n=20, m=3, seed=1)[0].iloc[::-1].reset_index(drop=True)
    design["group"] = design["group"].map({"a": "b", "b": "a"})
    frame, truth = multigroup.simulate_prior(design, variant=variant, priors={"sigma_scale": 1e-12}, seed=5)
    codes, _ = group_codes(design, "group", "test")
    X = design[["x1", "x2", "x3"]].to_numpy()
    w = truth["w"] if variant == "pooled" else truth["w"][codes]
    np.testing.assert_allclose(frame["y"], np.einsum("ik,ik->i", X, np.broadcast_to(w, X.shape)), atol=1e-6)


def test_thai_variants_use_pped_as_their_programs_do():
    design = pd.DataFrame({"school_id": np.repeat(["s1", "s2"], 4000), "pped": np.tile([0, 1], 4000),
                           "repeat": 0})
    priors = {"coef_scale": 1.0, "mean_scale": 1.0, "hyper_scale": 0.5}
    for variant in ("random_slope", "intercept_only", "random_intercept", "slope_only"):
        frame, truth = thai.simulate_prior(design, variant=variant, priors=priors, seed=6)
        alpha = np.broadcast_to(truth["alpha"], 2)
        beta = {"intercept_only": np.zeros(2), "random_intercept": np.repeat(truth.get("beta"), 2)}.get(
            variant, truth.get("beta"))
        rates = frame.groupby(["school_id", "pped"])["repeat"].mean().to_numpy().reshape(2, 2)
        expected = stats.logistic.cdf(alpha[:, None] + beta[:, None] * np.array([0, 1]))
        np.testing.assert_allclose(rates, expected, atol=0.04)


# --- the prior draws against their closed forms ------------------------------------------------


@pytest.mark.parametrize("d, eta", [(2, 1.0), (2, 0.5), (3, 2.0), (3, 1.0), (4, 0.7), (5, 3.0)])
def test_lkj_marginals_are_the_known_beta(d, eta):
    rng = np.random.default_rng(20)
    draws = np.array([lkj_corr(rng, eta, d) for _ in range(4000)])
    np.testing.assert_allclose(draws[:, np.arange(d), np.arange(d)], 1.0)
    assert (np.linalg.eigvalsh(draws) > 0).all()
    np.testing.assert_allclose(draws, np.swapaxes(draws, 1, 2))
    marginal = stats.beta(eta - 1 + d / 2, eta - 1 + d / 2)
    for i, j in zip(*np.tril_indices(d, -1)):
        assert stats.kstest((draws[:, i, j] + 1) / 2, marginal.cdf).pvalue > 0.001, (i, j)


def test_lkj_cholesky_factor():
    L = lkj_cholesky(np.random.default_rng(1), 2.0, 4)
    assert np.allclose(np.triu(L, 1), 0) and (np.diag(L) > 0).all()
    np.testing.assert_allclose(np.sum(L**2, axis=1), 1.0)
    with pytest.raises(DataError, match="eta"):
        lkj_cholesky(np.random.default_rng(1), 0.0, 3)


def test_scalar_prior_draws_against_closed_forms():
    rng = np.random.default_rng(21)
    n = 20_000
    # median of half-normal(0, s): s * Phi^-1(3/4); of half-Cauchy(0, s): s
    assert np.median(half_normal(rng, 3.0, n)) == pytest.approx(3.0 * stats.norm.ppf(0.75), rel=0.03)
    assert np.median(half_cauchy(rng, 2.5, n)) == pytest.approx(2.5, rel=0.04)
    # gamma(a, b) by rate: mean a / b; inverse-gamma(a, b) by scale: median as scipy's
    assert gamma_rate(rng, 3.0, 0.5, n).mean() == pytest.approx(6.0, rel=0.03)
    assert np.median(inv_gamma(rng, 2.01, 1.01, n)) == pytest.approx(
        stats.invgamma(2.01, scale=1.01).median(), rel=0.03)
    for draws, law in ((half_normal(rng, 3.0, 4000), stats.halfnorm(scale=3.0)),
                       (half_cauchy(rng, 2.5, 4000), stats.halfcauchy(scale=2.5)),
                       (gamma_rate(rng, 3.0, 0.5, 4000), stats.gamma(3.0, scale=2.0)),
                       (inv_gamma(rng, 2.01, 1.01, 4000), stats.invgamma(2.01, scale=1.01))):
        assert stats.kstest(draws, law.cdf).pvalue > 0.001


def _repeat(simulate, draws=1500, **arguments):
    """Truths of ``draws`` simulations, sharing one generator."""
    rng = np.random.default_rng(22)
    return [simulate(seed=rng, **arguments)[1] for _ in range(draws)]


def test_family_hyperparameters_follow_their_priors():
    truths = _repeat(eight_schools.simulate_prior, priors={"mu_scale": 2.0, "tau_scale": 3.0})
    tau = np.array([t["tau"] for t in truths])
    assert stats.kstest(tau, stats.halfcauchy(scale=3.0).cdf).pvalue > 0.001
    assert stats.kstest([t["mu"] for t in truths], stats.norm(scale=2.0).cdf).pvalue > 0.001

    design = pd.DataFrame({"school": ["a", "a", "b", "b"], "mathscore": 0.0})
    truths = _repeat(mathtest.simulate_prior, data=design)
    lam = np.array([t["lambda"] for t in truths])
    assert lam.mean() == pytest.approx(mathtest.PRIORS["a"] / mathtest.PRIORS["b"], rel=0.08)
    assert stats.kstest([t["omega"] for t in truths], stats.gamma(1.0, scale=1 / 0.25).cdf).pvalue > 0.001
    assert stats.kstest([t["mu"] for t in truths], stats.norm(50, 25).cdf).pvalue > 0.001

    design = pd.DataFrame({"county": ["a", "b", "c"], "floor": [0, 1, 0], "log_radon": 0.0})
    truths = _repeat(radon.simulate_prior, data=design)
    for name, scale in (("sigma_y", 5.0), ("sigma_alpha", 5.0), ("sigma_beta", 5.0)):
        assert np.median([t[name] for t in truths]) == pytest.approx(scale, rel=0.12), name

    design = multigroup.simulate(G=2, n=3, m=2, seed=1)[0]
    truths = _repeat(multigroup.simulate_prior, data=design, sigma_prior="inv_gamma")
    tau = np.array([t["tau"] for t in truths])
    assert np.median(tau, axis=0) == pytest.approx(5.0 * stats.norm.ppf(0.75), rel=0.08)
    assert stats.kstest([t["sigma"] for t in truths], stats.invgamma(2.01, scale=1.01).cdf).pvalue > 0.001
    # m = 2: LKJ(2) correlation, (r + 1) / 2 ~ beta(2, 2)
    assert stats.kstest([(t["Omega"][1, 0] + 1) / 2 for t in truths], stats.beta(2, 2).cdf).pvalue > 0.001


def test_exam_bugs_covariance_is_inverse_wishart():
    design = exam.load_data()
    truths = _repeat(exam.simulate_prior, draws=300, data=design, variant="bugs", priors={"coef_scale": 0.01})
    sigma = np.array([t["Sigma"] for t in truths])
    law = stats.invwishart(df=3, scale=exam.BUGS_R)
    reference = law.rvs(size=4000, random_state=np.random.default_rng(23))
    # diagonal entries: the scale of each coefficient
    for k in range(3):
        assert stats.ks_2samp(sigma[:, k, k], reference[:, k, k]).pvalue > 0.001
    tau = np.array([t["tau"] for t in truths])
    np.testing.assert_allclose(tau, np.sqrt(np.diagonal(sigma, axis1=1, axis2=2)))
    omega = np.array([t["Omega"] for t in truths])
    np.testing.assert_allclose(omega * tau[:, :, None] * tau[:, None, :], sigma, rtol=1e-10)
