"""The benchmarked hierstan programs written again in PyMC 5, for PyMC's NUTS and for nutpie.

Each builder takes the Stan data dict hierstan hands to Stan (``<family>.stan_data(...).data``)
and writes the same model: the same priors with the same scales, the same non-centering, the
same likelihood form (cells or rows, as the dict's switches say) and the same variable names.
tests/integration/test_bench_models.py checks the log densities against the Stan programs'.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pymc as pm
import pytensor.tensor as pt


def eight_schools(d: dict) -> pm.Model:
    """``eight_schools_noncentered``."""
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, d["mu_scale"])
        tau = pm.HalfCauchy("tau", d["tau_scale"])
        z_theta = pm.Normal("z_theta", 0.0, 1.0, shape=d["J"])
        theta = pm.Deterministic("theta", mu + tau * z_theta)
        pm.Normal("y", theta, np.asarray(d["sigma"], float), observed=np.asarray(d["y"], float))
    return model


def radon(d: dict) -> pm.Model:
    """``radon_varying_intercept_slope_noncentered``, cells or houses as ``use_cells`` says."""
    with pm.Model() as model:
        sigma_y = pm.HalfCauchy("sigma_y", d["sigma_scale"])
        mu_alpha = pm.Normal("mu_alpha", 0.0, d["coef_scale"])
        sigma_alpha = pm.HalfCauchy("sigma_alpha", d["hyper_scale"])
        mu_beta = pm.Normal("mu_beta", 0.0, d["coef_scale"])
        sigma_beta = pm.HalfCauchy("sigma_beta", d["hyper_scale"])
        z_alpha = pm.Normal("z_alpha", 0.0, 1.0, shape=d["J"])
        z_beta = pm.Normal("z_beta", 0.0, 1.0, shape=d["J"])
        alpha = pm.Deterministic("alpha", mu_alpha + sigma_alpha * z_alpha)
        beta = pm.Deterministic("beta", mu_beta + sigma_beta * z_beta)
        if d["use_cells"]:
            # the Gaussian likelihood through each (county, floor) cell's count, mean and the
            # pooled within-cell sum of squares, constants dropped as in the Stan program
            county = np.asarray(d["cell_county"]) - 1
            m = alpha[county] + beta[county] * np.asarray(d["cell_x"], float)
            n, mean = np.asarray(d["cell_n"], float), np.asarray(d["cell_mean"], float)
            sq = d["within_ss"] + pt.sum(n * (mean - m) ** 2)
            pm.Potential("likelihood", -d["N"] * pt.log(sigma_y) - sq / (2 * sigma_y**2))
        else:
            county = np.asarray(d["county"]) - 1
            pm.Normal("y", alpha[county] + beta[county] * np.asarray(d["x"], float), sigma_y,
                      observed=np.asarray(d["y"], float))
    return model


def thai(d: dict) -> pm.Model:
    """``thai_random_slope``, non-centered about each school's pped share (``centered = 0``)."""
    if d["centered"]:
        raise ValueError("the PyMC version of thai_random_slope is written for centered = 0 only")
    c = np.asarray(d["pped_centre"], float)
    with pm.Model() as model:
        mu_alpha = pm.Normal("mu_alpha", 0.0, d["mean_scale"])
        sigma_alpha = pm.HalfNormal("sigma_alpha", d["hyper_scale"])
        mu_beta = pm.Normal("mu_beta", 0.0, d["mean_scale"])
        sigma_beta = pm.HalfNormal("sigma_beta", d["hyper_scale"])
        alpha_raw = pm.Normal("alpha_raw", 0.0, 1.0, shape=d["J"])
        beta_raw = pm.Normal("beta_raw", 0.0, 1.0, shape=d["J"])
        # the school's logit at its pped share gets alpha_raw, beta the independent remainder
        sd_at_c = pt.sqrt(sigma_alpha**2 + (sigma_beta * c) ** 2)
        beta = pm.Deterministic(
            "beta", mu_beta + sigma_beta * (sigma_beta * c * alpha_raw + sigma_alpha * beta_raw) / sd_at_c)
        alpha = pm.Deterministic("alpha", mu_alpha + c * mu_beta + sd_at_c * alpha_raw - c * beta)
        if d["use_cells"]:
            school = np.asarray(d["cell_school"]) - 1
            eta = alpha[school] + beta[school] * np.asarray(d["cell_pped"], float)
            pm.Binomial("cell_y", n=np.asarray(d["cell_n"]), logit_p=eta, observed=np.asarray(d["cell_y"]))
        else:
            school = np.asarray(d["school"]) - 1
            eta = alpha[school] + beta[school] * np.asarray(d["pped"], float)
            pm.Bernoulli("y", logit_p=eta, observed=np.asarray(d["y"]))
    return model


def exam(d: dict) -> pm.Model:
    """``exam_lkj`` on standardised predictors (``standardise = 1``), as exam_standardise.stan."""
    if not d["standardise"]:
        raise ValueError("the PyMC version of exam_lkj is written for standardise = 1 only")
    lrt, vr1, X = (np.asarray(d[k], float) for k in ("lrt", "vr1", "X"))
    school = np.asarray(d["school"]) - 1
    s_lrt = lrt.std(ddof=1)  # Stan's sd() divides by n - 1
    l = lrt / s_lrt  # noqa: E741 (the Stan program's name)
    x_centre, x_scale = X.mean(axis=0), X.std(axis=0, ddof=1)
    X_std = (X - x_centre) / x_scale
    dscale = np.array([1.0, s_lrt, 1.0])
    scale = d["coef_scale"]
    with pm.Model() as model:
        gamma_std = pm.Flat("gamma_std", shape=3)
        beta_std = pm.Flat("beta_std", shape=8)
        theta = pm.Normal("theta", 0.0, scale)
        phi_std = pm.Flat("phi_std")
        z = pm.Normal("z", 0.0, 1.0, shape=(3, d["J"]))
        # tau_std = d * tau, so tau ~ half-normal(0, tau_scale) is tau_std ~ half-normal(0, d tau_scale)
        # (constant Jacobian); LKJCholeskyCov's density is LKJ(eta) on the correlation matrix times
        # the sd prior, the joint prior of (tau_std, L_Omega) that the Stan program states
        chol, _, _ = pm.LKJCholeskyCov("L_cov", n=3, eta=d["lkj_eta"], compute_corr=True,
                                       sd_dist=pm.HalfNormal.dist(d["tau_scale"] * dscale, shape=3))
        a_std = gamma_std[None, :] + pt.dot(chol, z).T
        # the original-scale quantities the priors are stated on (exam_original_scale.stan)
        beta = pm.Deterministic("beta", beta_std / x_scale)
        gamma = pm.Deterministic("gamma", pt.stack([gamma_std[0] - pt.dot(beta, x_centre),
                                                    gamma_std[1] / s_lrt, gamma_std[2]]))
        phi = pm.Deterministic("phi", phi_std / s_lrt)
        pm.Deterministic("tau", pt.sqrt(pt.sum(chol**2, axis=1)) / dscale)
        pm.Potential("priors", pm.logp(pm.Normal.dist(0.0, scale), gamma).sum()
                     + pm.logp(pm.Normal.dist(0.0, scale), beta).sum()
                     + pm.logp(pm.Normal.dist(0.0, scale), phi))
        mu = (a_std[school, 0] + a_std[school, 1] * l + a_std[school, 2] * vr1 + pt.dot(X_std, beta_std))
        pm.Normal("y", mu, pt.exp(-0.5 * (theta + phi_std * l)), observed=np.asarray(d["y"], float))
    return model


def mathtest(d: dict) -> pm.Model:
    """``mathtest_hierarchical``, centered or not as the data's ``centered`` flag says."""
    n = np.asarray(d["school_n"], float)
    ybar = np.asarray(d["school_sum"], float) / n
    within_ss = float(np.sum(d["school_ss"]))
    with pm.Model() as model:
        mu = pm.Normal("mu", d["nu"], 1 / np.sqrt(d["phi"]))
        lam = pm.Gamma("lambda", alpha=d["a"], beta=d["b"])
        omega = pm.Gamma("omega", alpha=d["c"], beta=d["d"])
        if d["centered"]:
            theta = pm.Normal("theta", mu, 1 / pt.sqrt(omega * lam), shape=d["J"])
        else:
            raw = pm.Normal("theta_raw", 0.0, 1.0, shape=d["J"])
            theta = pm.Deterministic("theta", mu + raw / pt.sqrt(omega * lam))
        pm.Potential("likelihood", 0.5 * d["N"] * (pt.log(lam) - np.log(2 * np.pi))
                     - 0.5 * lam * (within_ss + pt.sum(n * (ybar - theta) ** 2)))
    return model


MODELS: dict[str, Callable[[dict], pm.Model]] = {
    "eight_schools": eight_schools, "radon": radon, "thai": thai, "exam": exam, "mathtest": mathtest}

# variables named and shaped alike in the Stan and the PyMC posteriors: the parameters,
# hyper-parameters and group-level effects whose ESS, R-hat and means are compared
COMPARED: dict[str, list[str]] = {
    "eight_schools": ["mu", "tau", "theta"],
    "radon": ["mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "sigma_y", "alpha", "beta"],
    "thai": ["mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "alpha", "beta"],
    "exam": ["gamma", "beta", "theta", "phi", "tau"],
    "mathtest": ["mu", "lambda", "omega", "theta"],
}


def build(name: str, data: dict) -> pm.Model:
    """The PyMC model ``name`` (a key of :data:`MODELS`) on hierstan's Stan data dict."""
    if name not in MODELS:
        raise ValueError(f"no PyMC version of {name!r}; known: {sorted(MODELS)}")
    return MODELS[name](data)
