"""simulate_prior against the Stan programs' own prior draws (prior_only = 1), each family's default
variant (and the correlated intercept-slope variants) at a small design: every hyperparameter and
the first group's effects by a two-sample KS test, and the truth's names, order and shapes
against the posterior's user-facing variables."""

import warnings
from functools import cache

import numpy as np
import pytest
from scipy.stats import ks_2samp

from hierstan.models import FAMILIES, exam, multigroup
from hierstan.post_estimation import is_internal

SIMULATIONS = 2000
THIN = 5  # NUTS draws of these priors are near-independent 5 apart
P_MIN = 0.001


def _first(data, column, groups):
    """The rows of the first ``groups`` groups of ``column`` (by sorted label)."""
    return data[data[column].isin(sorted(data[column].unique())[:groups])].reset_index(drop=True)


def _exam_design():
    # five schools holding every school gender and denomination, so every column varies
    data = exam.load_data()
    return data[data["school"].isin([1, 2, 9, 20, 26])].reset_index(drop=True)


# per family (or family/variant; else the default variant): the design and the priors
# (defaults, or other values where simulate_prior must follow priors= as the program does)
CASES = {
    "eight_schools": (lambda: None, {"tau_scale": 2.0}),
    "radon": (lambda: _first(FAMILIES["radon"].load_data(), "county", 6), {}),
    "multigroup": (lambda: multigroup.simulate(G=3, n=20, m=3, seed=1)[0], {"lkj_eta": 1.5}),
    "thai": (lambda: _first(FAMILIES["thai"].load_data(), "school_id", 6), {"hyper_scale": 2.0}),
    "exam": (_exam_design, {"coef_scale": 1.0, "tau_scale": 0.5}),
    "mathtest": (lambda: _first(FAMILIES["mathtest"].load_data(), "school", 6), {"b": 20.0}),
    "radon/varying_intercept_slope_correlated": (lambda: _first(FAMILIES["radon"].load_data(), "county", 6),
                                                 {"lkj_eta": 1.5}),
    "thai/random_slope_correlated": (lambda: _first(FAMILIES["thai"].load_data(), "school_id", 6),
                                     {"hyper_scale": 2.0, "lkj_eta": 3.0}),
    "glmm": (lambda: _first(FAMILIES["glmm"].load_data(), "county", 6), {"lkj_eta": 1.5}),
    # a block of three correlated terms: the Jacobian of its partial correlations matters; and
    # the other prior choices (absolute scales, the intercept's prior at X = 0, half-normal sds)
    "glmm/formula": (lambda: _first(FAMILIES["glmm"].load_data(), "county", 6),
                     {"lkj_eta": 0.8, "autoscale": 0, "scale_prior": "half_normal", "intercept_scale": 2.0,
                      "coef_scale": 1.0, "sd_scale": 0.5, "sigma_scale": 1.0},
                     {"formula": "log_radon ~ floor + activity + (1 + floor + activity | county)"}),
}


@cache
def _run(name):
    """The family's fit with prior draws (non-centered where there is a choice: no funnel
    without data) and SIMULATIONS truths from simulate_prior at the same design and priors."""
    family_name, _, variant = name.partition("/")
    family = FAMILIES[family_name]
    variant = variant or family.variants[0]
    make_design, priors, *rest = CASES[name]
    options = rest[0] if rest else {}
    design = make_design()
    form = {"parameterization": "noncentered"} if family.parameterizations else {}
    with warnings.catch_warnings():  # sampler warnings do not matter here: the draws are compared
        warnings.simplefilter("ignore")
        idata = family.fit(design, variant=variant, prior=True, chains=4, draws=500, warmup=500, seed=1,
                           progress=False, priors=priors, **form, **options)
    rng = np.random.default_rng(2)
    truths = [family.simulate_prior(design, variant=variant, priors=priors, seed=rng, **options)[1]
              for _ in range(SIMULATIONS)]
    return idata, truths


def _elements(draws: np.ndarray, dims: tuple[str, ...], group_dim: str) -> dict[str, np.ndarray]:
    """Draws (samples first) of every scalar element, the group dim cut to its first group."""
    if group_dim in dims:
        draws = np.take(draws, 0, axis=1 + dims.index(group_dim))
    flat = draws.reshape(len(draws), -1)
    return {str(k): flat[:, k] for k in range(flat.shape[1])}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_truth_names_are_the_posteriors(name):
    idata, truths = _run(name)
    for group in (idata.posterior, idata.prior):
        public = [v for v in group.data_vars if not is_internal(v)]
        assert list(truths[0]) == public
        assert all(truths[0][v].shape == group[v].shape[2:] for v in public)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_prior_draws_match_the_programs(name):
    idata, truths = _run(name)
    group_dim = idata.posterior.attrs["group_dim"]
    failed, compared = [], 0
    for variable in truths[0]:
        prior = idata.prior[variable]
        dims = prior.dims[2:]
        mcmc = prior.values[:, ::THIN].reshape(-1, *prior.shape[2:])
        simulated = np.array([truth[variable] for truth in truths])
        ours = _elements(simulated, dims, group_dim)
        for element, stan in _elements(mcmc, dims, group_dim).items():
            if np.ptp(ours[element]) == 0:  # a fixed entry, Omega's diagonal (Stan's up to rounding)
                np.testing.assert_allclose(stan, ours[element][0], atol=1e-9)
                continue
            compared += 1
            p = ks_2samp(stan, ours[element]).pvalue
            if p <= P_MIN:
                failed.append(f"{variable}[{element}] p={p:.2g} (Stan median {np.median(stan):.3g}, "
                              f"numpy {np.median(ours[element]):.3g})")
    assert compared >= 3
    assert not failed, failed
