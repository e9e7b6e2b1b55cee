"""The PyMC models of the benchmark have the Stan programs' log densities.

At random points PyMC's log density (``jacobian=False``) and Stan's (the native driver's
``log_density``, also without the Jacobian) are evaluated at the same constrained values, each
over its own program's parameters. Stan's ``~`` drops constant terms, so the DIFFERENCES between points must
agree. Exam's covariance prior is over different variables in the two libraries; see
:func:`_lkj_change_of_variables`.
"""

import numpy as np
import pytest

pytest.importorskip("pymc", reason="the bench extra (pymc, nutpie) is not installed")

from hierstan.bench import pymc_models  # noqa: E402
from hierstan.engines.native_engine import log_density  # noqa: E402
from hierstan.models import eight_schools, exam, mathtest, radon, thai  # noqa: E402
from hierstan.programs import load_program  # noqa: E402

# case: (PyMC model, Stan data, extra keys for the PyMC builder, PyMC name -> Stan parameter name);
# the PyMC versions take one form for every group, so the cases force one
CASES = {
    "eight_schools": ("eight_schools", lambda: eight_schools.stan_data(parameterization="noncentered"),
                      {}, {}),
    "radon-cells": ("radon", lambda: radon.stan_data(likelihood="cells", parameterization="noncentered"),
                    {}, {}),
    "radon-houses": ("radon", lambda: radon.stan_data(likelihood="houses", parameterization="noncentered"),
                     {}, {}),
    # centered: Stan's z_alpha and z_beta are alpha and beta themselves
    "radon-centered": ("radon", lambda: radon.stan_data(likelihood="cells", parameterization="centered"),
                       {}, {"alpha": "z_alpha", "beta": "z_beta"}),
    "thai-cells": ("thai", lambda: thai.stan_data(variant="random_slope", likelihood="cells",
                                                  parameterization="noncentered"), {}, {}),
    "thai-pupils": ("thai", lambda: thai.stan_data(variant="random_slope", likelihood="pupils",
                                                   parameterization="noncentered"), {}, {}),
    "exam": ("exam", lambda: exam.stan_data(variant="lkj"), {}, {}),
    "exam-unstandardised": ("exam", lambda: exam.stan_data(variant="lkj", standardise=False), {}, {}),
    # centered: Stan's z_theta is theta itself
    "mathtest": ("mathtest", lambda: mathtest.stan_data(parameterization="centered"), {},
                 {"theta": "z_theta"}),
    "mathtest-noncentered": ("mathtest", lambda: mathtest.stan_data(parameterization="noncentered"), {}, {}),
}
STAN_PARAMETERS = {
    "eight_schools": ("mu", "tau", "z_theta"),
    "radon_varying_intercept_slope": ("sigma_y", "mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta",
                                      "z_alpha", "z_beta"),
    "thai_random_slope": ("mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "z_alpha", "z_beta"),
    "exam_lkj": ("gamma_std", "beta_std", "theta", "phi_std", "z", "tau_std", "L_Omega"),
    "mathtest_hierarchical": ("mu", "lambda", "omega", "z_theta"),
}


def _points(model, rng, data, n=3):
    """n random points of the PyMC model (its unconstrained values) near its initial point."""
    noise = {}
    if data.get("standardise") == 0:
        # exam as written: coefficients perturbed on the standardised scale, else the log
        # density reaches 1e24 and the prior terms drown in its rounding
        s_lrt = np.std(data["lrt"], ddof=1)
        noise = {"beta_std": 0.5 / np.std(data["X"], axis=0, ddof=1), "phi_std": 0.5 / s_lrt,
                 "gamma_std": 0.5 / np.array([1.0, s_lrt, 1.0])}
    start = model.initial_point()
    return [{k: v + rng.normal(0, noise.get(k, 0.5), np.shape(v)) for k, v in start.items()}
            for _ in range(n)]


def _exam_stan_values(values):
    """Stan's (tau_std, L_Omega) from PyMC's Cholesky factor of the covariance (packed by rows)."""
    chol = np.zeros((3, 3))
    chol[np.tril_indices(3)] = values["L_cov"]
    tau_std = np.sqrt((chol**2).sum(axis=1))
    return {**values, "tau_std": tau_std, "L_Omega": chol / tau_std[:, None]}


def _lkj_change_of_variables(tau, L):
    """log |d(tau, L_Omega) / dC| for C = diag(tau) L_Omega, the Cholesky factor of the covariance.

    Stan's density is over tau and the strictly lower elements of L_Omega; PyMC's LKJCholeskyCov
    over the lower triangle of C. Row i of C (0-based) is tau_i times the unit row i of L_Omega,
    i.e. spherical coordinates: radius tau_i and the first i elements of the unit row, whose last
    element is L_ii = sqrt(1 - sum of squares). Its volume element is tau_i^i / L_ii, so
    p_PyMC(C) = p_Stan(tau, L_Omega) * prod_i L_ii / tau_i^i (checked numerically below).
    """
    return float(np.sum(np.log(np.diag(L)) - np.arange(len(tau)) * np.log(tau)))


def test_lkj_change_of_variables_is_the_jacobian():
    rng = np.random.default_rng(3)
    rows, cols = np.tril_indices(3, -1)

    def chol(x):  # x = (tau, strictly lower elements of L_Omega) -> lower triangle of C
        L = np.eye(3)
        L[rows, cols] = x[3:]
        L[np.diag_indices(3)] = np.sqrt(1 - (np.tril(L, -1) ** 2).sum(axis=1))
        return (x[:3, None] * L)[np.tril_indices(3)], L

    for _ in range(3):
        x = np.concatenate([rng.uniform(0.5, 2.0, 3), rng.uniform(-0.5, 0.5, 3)])
        h = 1e-6
        jac = np.array([(chol(x + h * e)[0] - chol(x - h * e)[0]) / (2 * h) for e in np.eye(6)])
        log_volume = np.linalg.slogdet(jac)[1]
        assert _lkj_change_of_variables(x[:3], chol(x)[1]) == pytest.approx(-log_volume, abs=1e-7)


@pytest.mark.parametrize("case", list(CASES))
def test_log_density_matches_the_stan_program(case):
    name, make, flags, rename = CASES[case]
    prepared = make()
    model = pymc_models.build(name, {**prepared.data, **flags})
    points = _points(model, np.random.default_rng(7), prepared.data)
    if name == "thai":
        # and logits about 40, where p = sigmoid(eta) rounds to 1 (PyMC's Binomial gives -inf there)
        points.append({**points[-1], "mu_alpha": points[-1]["mu_alpha"] + 40.0})
    logp = model.compile_logp(jacobian=False)
    constrained = model.compile_fn(model.unobserved_value_vars, inputs=model.value_vars,
                                   on_unused_input="ignore", point_fn=False)
    names = [v.name for v in model.unobserved_value_vars]
    pymc, stan_points = [], []
    for point in points:
        values = dict(zip(names, constrained(**point)))
        values = {rename.get(k, k): v for k, v in values.items()}
        correction = 0.0
        if name == "exam":
            values = _exam_stan_values(values)
            correction = _lkj_change_of_variables(values["tau_std"], values["L_Omega"])
        stan_point = {k: np.asarray(values[k]).tolist() for k in STAN_PARAMETERS[prepared.program]}
        stan_points.append(stan_point)
        pymc.append(float(logp(point)) - correction)
    stan = log_density(load_program(prepared.program), prepared.data, stan_points)
    stan_diff, pymc_diff = np.diff(stan), np.diff(pymc)
    assert np.all(np.isfinite(pymc)) and np.all(np.abs(stan_diff) > 1e-2)  # the points differ
    np.testing.assert_allclose(pymc_diff, stan_diff, rtol=1e-8, atol=1e-8)


def test_unsupported_forms_are_refused():
    with pytest.raises(ValueError, match="no PyMC version of 'nope'"):
        pymc_models.build("nope", {})
    data = thai.stan_data(variant="random_slope", parameterization="centered").data
    with pytest.raises(ValueError, match="centered = 0 only"):
        pymc_models.build("thai", data)
