"""The PyMC models of the benchmark have the Stan programs' log density.

At random points, PyMC's log density (no Jacobian) and Stan's (through PyStan, no Jacobian) are
evaluated on the same constrained values. Stan drops constant terms, so the DIFFERENCES between
points must agree. Exam: the two libraries put LKJ priors on different variables (Stan on
(tau, L_Omega), PyMC on the covariance's Cholesky factor), so its points share the covariance
part, which cancels; the covariance prior is checked by the benchmark's agreement of posterior
means between engines instead.
"""

import numpy as np
import pytest

pytest.importorskip("pymc", reason="the bench extra (pymc, nutpie) is not installed")

from hierstan.bench import pymc_models  # noqa: E402
from hierstan.bench.run import Spec, stan_data  # noqa: E402
from hierstan.engines.pystan_engine import PyStanEngine  # noqa: E402
from hierstan.programs import load_program  # noqa: E402

CASES = [("eight_schools", None), ("radon", "cells"), ("radon", "houses"), ("thai", "cells"),
         ("thai", "pupils"), ("exam", None), ("mathtest", None)]


def _points(model, rng, n=3, share=None):
    """Constrained values of n random points of the PyMC model, and PyMC's log density there.
    ``share`` names free variables held at the first point's values."""
    logp = model.compile_logp(jacobian=False)
    constrained = model.compile_fn(model.unobserved_value_vars, inputs=model.value_vars,
                                   on_unused_input="ignore", point_fn=False)
    names = [v.name for v in model.unobserved_value_vars]
    # about the origin of the unconstrained space (scales near 1): far out, PyMC's binomial
    # rounds p to 1 where Stan's binomial_logit does not
    start = {k: np.zeros_like(v) for k, v in model.initial_point().items()}
    first, out = None, []
    for _ in range(n):
        point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in start.items()}
        if first is not None:
            point.update({k: first[k] for k in first if any(k.startswith(s) for s in share or ())})
        first = first or point
        values = dict(zip(names, constrained(**point)))
        out.append((values, float(logp(point))))
    return out


def _stan_point(name, values, data):
    if name == "exam":
        chol = np.zeros((3, 3))
        chol[np.tril_indices(3)] = values["L_cov"]
        tau_std = np.sqrt((chol**2).sum(axis=1))
        extra = {"tau_std": tau_std, "L_Omega": chol / tau_std[:, None]}
        return {k: values[k] for k in ("gamma_std", "beta_std", "theta", "phi_std", "z")} | extra
    return {k: values[k] for k in values if not k.endswith("__") and k in _stan_parameters(name)}


def _stan_parameters(name):
    return {"eight_schools": {"mu", "tau", "z_theta"},
            "radon": {"sigma_y", "mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "z_alpha", "z_beta"},
            "thai": {"mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "alpha_raw", "beta_raw"},
            "mathtest": {"mu", "lambda", "omega", "theta_raw"}}[name]


@pytest.mark.parametrize(("name", "likelihood"), CASES)
def test_log_density_matches_the_stan_program(name, likelihood):
    prepared = stan_data(Spec(model=name, engine="pymc", likelihood=likelihood))
    model = pymc_models.build(name, prepared.data)
    if name == "mathtest":  # centered: PyMC's theta is Stan's theta_raw
        assert prepared.data["centered"] == 1
    posterior, _ = PyStanEngine().build(load_program(prepared.program), prepared.data)
    rng = np.random.default_rng(7)
    points = _points(model, rng, share=["L_cov"] if name == "exam" else None)
    stan, pymc = [], []
    for values, logp in points:
        if name == "mathtest":
            values = {**values, "theta_raw": values["theta"]}
        point = {k: np.asarray(v).tolist() for k, v in _stan_point(name, values, prepared.data).items()}
        unconstrained = posterior.unconstrain_pars(point)
        stan.append(posterior.log_prob(unconstrained, adjust_transform=False))
        pymc.append(logp)
    stan_diff, pymc_diff = np.diff(stan), np.diff(pymc)
    assert np.all(np.abs(stan_diff) > 1e-3)  # the points differ enough to test anything
    np.testing.assert_allclose(pymc_diff, stan_diff, rtol=1e-8, atol=1e-6)


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="no PyMC version of 'nope'"):
        pymc_models.build("nope", {})
