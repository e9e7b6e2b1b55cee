"""Correlated intercepts and slopes without compiling: the Stan data of the correlated variants,
simulate's rho, and predict's joint draws for a new group on a hand-made posterior."""

import arviz as az
import numpy as np
import pandas as pd
import pytest

import hierstan
from hierstan import DataError
from hierstan.models import radon, thai

DRAWS = 4000


def test_one_program_serves_both_forms():
    pairs = ((radon, "varying_intercept_slope", "varying_intercept_slope_correlated"),
             (thai, "random_slope", "random_slope_correlated"))
    for module, independent, correlated in pairs:
        plain, joint = module.stan_data(variant=independent), module.stan_data(variant=correlated)
        assert plain.program == joint.program
        assert (plain.data["correlated"], joint.data["correlated"]) == (0, 1)
        assert joint.data["lkj_eta"] == 2.0 == module.PRIORS["lkj_eta"]
        assert module.stan_data(variant=correlated, priors={"lkj_eta": 4.0}).data["lkj_eta"] == 4.0
        assert joint.dims["Omega"] == ["effect", "effect2"] and joint.coords["effect"] == ["alpha", "beta"]
        assert "Omega" not in plain.dims
    # programs without a correlation are not handed lkj_eta
    assert "lkj_eta" not in radon.stan_data(variant="pooled").data
    assert "lkj_eta" not in thai.stan_data(variant="intercept_only").data
    with pytest.raises(DataError, match="lkj_eta"):
        radon.stan_data(variant="varying_intercept_slope_correlated", priors={"lkj_eta": 0.0})


@pytest.mark.parametrize("rho", [-0.5, 0.0, 0.8])
def test_simulate_draws_effects_with_the_correlation_asked(rho):
    _, truth = radon.simulate(J=20_000, N=20_000, truth={"rho": rho}, seed=3)
    # sd of a sample correlation at n = 20000: (1 - rho^2) / sqrt(n) < 0.008
    assert np.corrcoef(truth["alpha"], truth["beta"])[0, 1] == pytest.approx(rho, abs=0.03)
    assert np.std(truth["beta"]) == pytest.approx(radon.SIMULATION_TRUTH["sigma_beta"], rel=0.03)
    design = pd.DataFrame({"school_id": np.repeat(np.arange(20_000), 2), "pped": np.tile([0, 1], 20_000),
                           "repeat": 0})
    _, truth = thai.simulate({"rho": rho}, data=design, seed=3)
    assert np.corrcoef(truth["alpha"], truth["beta"])[0, 1] == pytest.approx(rho, abs=0.03)


@pytest.mark.parametrize("rho", [-1.0, 1.5])
def test_simulate_refuses_a_correlation_outside_minus_one_one(rho):
    with pytest.raises(DataError, match="rho must lie strictly between -1 and 1"):
        radon.simulate(J=5, N=10, truth={"rho": rho})
    with pytest.raises(DataError, match="rho must lie strictly between -1 and 1"):
        thai.simulate({"rho": rho})


def _posterior(family: str, rho: np.ndarray | None) -> az.InferenceData:
    """Draws of a fit with two groups: population parameters that vary from draw to draw."""
    rng = np.random.default_rng(1)
    group, predictor = {"radon": ("county", "floor"), "thai": ("school_id", "pped")}[family]
    shape = (1, DRAWS)
    posterior = {"mu_alpha": rng.normal(1.0, 0.1, shape), "sigma_alpha": rng.uniform(0.3, 0.6, shape),
                 "mu_beta": rng.normal(-0.5, 0.1, shape), "sigma_beta": rng.uniform(0.2, 0.4, shape),
                 "alpha": rng.normal(size=(*shape, 2)), "beta": rng.normal(size=(*shape, 2))}
    if family == "radon":
        posterior["sigma_y"] = rng.uniform(0.5, 1.0, (1, DRAWS))
    dims = {"alpha": [group], "beta": [group]}
    if rho is not None:
        omega = np.ones((1, DRAWS, 2, 2))
        omega[..., 0, 1] = omega[..., 1, 0] = rho
        posterior["Omega"] = omega
        dims["Omega"] = ["effect", "effect2"]
    variant = {"radon": "varying_intercept_slope", "thai": "random_slope"}[family]
    return az.from_dict(posterior=posterior, coords={group: ["A", "B"], "effect": ["alpha", "beta"],
                                                     "effect2": ["alpha", "beta"]}, dims=dims,
                        posterior_attrs={"family": family, "group_dim": group,
                                         "variant": variant + ("_correlated" if rho is not None else ""),
                                         "column_group": group, "column_predictor": predictor,
                                         "column_pped": predictor, "column_group_predictor": "log_uranium",
                                         "column_outcome": "y", "outcome": "y"})


@pytest.mark.parametrize("family", ["radon", "thai"])
@pytest.mark.parametrize("correlated", [True, False])
def test_a_new_groups_intercept_and_slope_are_drawn_jointly(family, correlated):
    rho = np.random.default_rng(2).uniform(-0.9, -0.3, (1, DRAWS)) if correlated else None
    idata = _posterior(family, rho)
    group, predictor = idata.posterior.attrs["column_group"], idata.posterior.attrs["column_predictor"]
    new = pd.DataFrame({group: ["NEW", "NEW"], predictor: [0.0, 1.0]})
    linear = hierstan.predict(idata, new, scale="linear", seed=5).values.reshape(DRAWS, 2)
    post = {name: idata.posterior[name].values.reshape(DRAWS) for name in
            ("mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta")}
    alpha, beta = linear[:, 0], linear[:, 1] - linear[:, 0]
    # the standardised deviates of the new group's effects, draw by draw: with rho drawn per draw
    # and the deviates independent of the parameters, their correlation is the mean of rho
    first = (alpha - post["mu_alpha"]) / post["sigma_alpha"]
    second = (beta - post["mu_beta"]) / post["sigma_beta"]
    expected = float(rho.mean()) if correlated else 0.0
    assert np.corrcoef(first, second)[0, 1] == pytest.approx(expected, abs=0.05)
    assert np.std(second) == pytest.approx(1.0, abs=0.05)
