"""The benchmarked hierstan Stan programs written again in PyMC 5, for PyMC's NUTS and for nutpie.

Each builder takes the data dict hierstan hands to Stan (``<family>.stan_data(...).data``) and
states the same model: the same priors and scales, the same (non-)centering, the same likelihood
form (cells or rows, as the dict says) and Stan's names for the compared variables.
tests/integration/test_bench_models.py checks the log densities against the Stan programs'.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.dist_math import binomln


def _index(values) -> np.ndarray:
    """Stan's 1-based group index as a 0-based numpy index."""
    return np.asarray(values, dtype=np.int64) - 1


def _vector(values) -> np.ndarray:
    return np.asarray(values, dtype=float)


def _centered(d: dict) -> bool:
    """Stan's per-group flags, all 1 or all 0 (these PyMC models take one form for every group)."""
    flags = np.asarray(d.get("centered", 0))
    if flags.min() != flags.max():
        raise ValueError("the PyMC versions take every group centered or every group not")
    return bool(flags.max())


def eight_schools(d: dict) -> pm.Model:
    """``eight_schools``, non-centered."""
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, d["mu_scale"])
        tau = pm.HalfCauchy("tau", d["tau_scale"])
        z_theta = pm.Normal("z_theta", 0.0, 1.0, shape=d["J"])
        theta = pm.Deterministic("theta", mu + tau * z_theta)
        pm.Normal("y", theta, _vector(d["sigma"]), observed=_vector(d["y"]))
    return model


def radon(d: dict) -> pm.Model:
    """``radon_varying_intercept_slope``, every county centered or every county not as the
    ``centered`` flags say, cells or houses as ``use_cells`` says."""
    with pm.Model() as model:
        sigma_y = pm.HalfCauchy("sigma_y", d["sigma_scale"])
        mu_alpha = pm.Normal("mu_alpha", 0.0, d["coef_scale"])
        sigma_alpha = pm.HalfCauchy("sigma_alpha", d["hyper_scale"])
        mu_beta = pm.Normal("mu_beta", 0.0, d["coef_scale"])
        sigma_beta = pm.HalfCauchy("sigma_beta", d["hyper_scale"])
        if _centered(d):
            alpha = pm.Normal("alpha", mu_alpha, sigma_alpha, shape=d["J"])
            beta = pm.Normal("beta", mu_beta, sigma_beta, shape=d["J"])
        else:
            z_alpha = pm.Normal("z_alpha", 0.0, 1.0, shape=d["J"])
            z_beta = pm.Normal("z_beta", 0.0, 1.0, shape=d["J"])
            alpha = pm.Deterministic("alpha", mu_alpha + sigma_alpha * z_alpha)
            beta = pm.Deterministic("beta", mu_beta + sigma_beta * z_beta)
        if d["use_cells"]:
            # Gaussian likelihood through each (county, x) cell's count and mean and the pooled
            # within-cell sum of squares, constants dropped, term for term as the Stan program
            county = _index(d["cell_county"])
            m = alpha[county] + beta[county] * _vector(d["cell_x"])
            squares = d["within_ss"] + pt.sum(_vector(d["cell_n"]) * (_vector(d["cell_mean"]) - m) ** 2)
            pm.Potential("likelihood", -d["N"] * pt.log(sigma_y) - squares / (2 * sigma_y**2))
        else:
            county = _index(d["county"])
            pm.Normal("y", alpha[county] + beta[county] * _vector(d["x"]), sigma_y, observed=_vector(d["y"]))
    return model


def _binomial_logit_logp(value, n, eta):
    # Stan's binomial_logit works with log inv_logit(+-eta); PyMC's Binomial(logit_p=) goes
    # through p = sigmoid(eta) and gives -inf once p rounds to 1 (eta > ~37)
    return binomln(n, value) - value * pt.softplus(-eta) - (n - value) * pt.softplus(eta)


def thai(d: dict) -> pm.Model:
    """``thai_random_slope``, non-centered about each school's pped share (``centered = 0``)."""
    if np.any(d["centered"]):
        raise ValueError("the PyMC version of thai_random_slope supports centered = 0 only "
                         "(parameterization 'noncentered' or 'noncentered_plain')")
    c = _vector(d["pped_centre"])
    with pm.Model() as model:
        mu_alpha = pm.Normal("mu_alpha", 0.0, d["mean_scale"])
        sigma_alpha = pm.HalfNormal("sigma_alpha", d["hyper_scale"])
        mu_beta = pm.Normal("mu_beta", 0.0, d["mean_scale"])
        sigma_beta = pm.HalfNormal("sigma_beta", d["hyper_scale"])
        z_alpha = pm.Normal("z_alpha", 0.0, 1.0, shape=d["J"])
        z_beta = pm.Normal("z_beta", 0.0, 1.0, shape=d["J"])
        # the school's logit at its pped share c gets z_alpha, beta the independent remainder
        # (the transformed parameters block of the Stan program, in the same order)
        sd_at_c = pt.sqrt(sigma_alpha**2 + (sigma_beta * c) ** 2)
        beta = pm.Deterministic(
            "beta", mu_beta + sigma_beta * (sigma_beta * c * z_alpha + sigma_alpha * z_beta) / sd_at_c)
        alpha = pm.Deterministic("alpha", mu_alpha + c * mu_beta + sd_at_c * z_alpha - c * beta)
        if d["use_cells"]:
            school = _index(d["cell_school"])
            eta = alpha[school] + beta[school] * _vector(d["cell_pped"])
            pm.CustomDist("cell_y", np.asarray(d["cell_n"], dtype=np.int64), eta, logp=_binomial_logit_logp,
                          observed=np.asarray(d["cell_y"], dtype=np.int64), dtype="int64")
        else:
            school = _index(d["school"])
            # Bernoulli(logit_p=) is stable: PyTensor rewrites log(sigmoid) to softplus
            pm.Bernoulli("y", logit_p=alpha[school] + beta[school] * _vector(d["pped"]),
                         observed=np.asarray(d["y"], dtype=np.int64))
    return model


def exam(d: dict) -> pm.Model:
    """``exam_lkj``, on standardised predictors or not as ``standardise`` says."""
    lrt, vr1, X = _vector(d["lrt"]), _vector(d["vr1"]), _vector(d["X"])
    school = _index(d["school"])
    # transformed data; Stan's sd() is the sample sd (n - 1)
    if d["standardise"]:
        s_lrt = lrt.std(ddof=1)
        x_centre, x_scale = X.mean(axis=0), X.std(axis=0, ddof=1)
    else:
        s_lrt, x_centre, x_scale = 1.0, np.zeros(X.shape[1]), np.ones(X.shape[1])
    l = lrt / s_lrt  # noqa: E741 (the Stan program's name)
    X_std = (X - x_centre) / x_scale
    dscale = np.array([1.0, s_lrt, 1.0])  # Stan's d: sampled school coefficient = d * original
    scale = d["coef_scale"]
    with pm.Model() as model:
        # flat here: their normal priors sit on the original-scale values below (as in Stan)
        gamma_std = pm.Flat("gamma_std", shape=3)
        beta_std = pm.Flat("beta_std", shape=8)
        phi_std = pm.Flat("phi_std")
        theta = pm.Normal("theta", 0.0, scale)
        z = pm.Normal("z", 0.0, 1.0, shape=(3, d["J"]))
        # Stan: tau ~ half-normal(0, tau_scale), L_Omega ~ lkj_corr_cholesky(lkj_eta), and the
        # school deviations diag(tau_std) L_Omega z with tau_std = d .* tau. PyMC's variable is
        # that product itself, the covariance's Cholesky factor; its density is the LKJ density of
        # L_Omega times sd_dist at its row norms (= tau_std) times the Jacobian from (tau_std,
        # L_Omega) to the factor. tau_std = d .* tau is half-normal(0, d * tau_scale) (the
        # Jacobian 1/d is constant), so both state the same joint prior on (tau, Omega).
        chol, _, stds = pm.LKJCholeskyCov("L_cov", n=3, eta=d["lkj_eta"], compute_corr=True,
                                          sd_dist=pm.HalfNormal.dist(d["tau_scale"] * dscale, shape=3))
        a_std = gamma_std[None, :] + pt.dot(chol, z).T
        # the original-scale quantities (linear in the sampled ones: constant Jacobian)
        beta = pm.Deterministic("beta", beta_std / x_scale)
        gamma = pm.Deterministic(
            "gamma", pt.stack([gamma_std[0] - pt.dot(beta, x_centre), gamma_std[1] / s_lrt, gamma_std[2]]))
        phi = pm.Deterministic("phi", phi_std / s_lrt)
        pm.Deterministic("tau", stds / dscale)
        prior = pm.Normal.dist(0.0, scale)
        pm.Potential("priors", pm.logp(prior, gamma).sum() + pm.logp(prior, beta).sum() + pm.logp(prior, phi))
        mu = a_std[school, 0] + a_std[school, 1] * l + a_std[school, 2] * vr1 + pt.dot(X_std, beta_std)
        pm.Normal("y", mu, pt.exp(-0.5 * (theta + phi_std * l)), observed=_vector(d["y"]))
    return model


def mathtest(d: dict) -> pm.Model:
    """``mathtest_hierarchical``, centered or not as the dict's ``centered`` flag says."""
    n = _vector(d["school_n"])
    ybar = _vector(d["school_sum"]) / n
    within_ss = float(np.sum(d["school_ss"]))
    with pm.Model() as model:
        mu = pm.Normal("mu", d["nu"], 1 / np.sqrt(d["phi"]))
        lam = pm.Gamma("lambda", alpha=d["a"], beta=d["b"])  # Stan's gamma(shape, rate)
        omega = pm.Gamma("omega", alpha=d["c"], beta=d["d"])
        if _centered(d):  # Stan's z_theta is theta itself
            theta = pm.Normal("theta", mu, 1 / pt.sqrt(omega * lam), shape=d["J"])
        else:
            z_theta = pm.Normal("z_theta", 0.0, 1.0, shape=d["J"])
            theta = pm.Deterministic("theta", mu + z_theta / pt.sqrt(omega * lam))
        # all students' normal log densities through the per-school sufficient statistics
        pm.Potential("likelihood", 0.5 * d["N"] * (pt.log(lam) - np.log(2 * np.pi))
                     - 0.5 * lam * (within_ss + pt.sum(n * (ybar - theta) ** 2)))
    return model


MODELS: dict[str, Callable[[dict], pm.Model]] = {
    "eight_schools": eight_schools, "radon": radon, "thai": thai, "exam": exam, "mathtest": mathtest}

def build(name: str, data: dict) -> pm.Model:
    """The PyMC model ``name`` (a key of :data:`MODELS`) on hierstan's Stan data dict."""
    if name not in MODELS:
        raise ValueError(f"no PyMC version of {name!r}; known: {sorted(MODELS)}")
    return MODELS[name](data)
