"""Stan programs rewritten for cheaper gradients against the texts they replaced
(tests/reference/stan/<program>_before.stan, includes expanded): at random unconstrained points
the same full log density (Jacobian and constants) and gradient, and at constrained points the
same log density as sampling sees it (constants dropped: lp__), to 1e-10 relative, on the shipped
data prepared by the families with every data flag the programs branch on."""

import warnings
from pathlib import Path

import numpy as np
import pytest

from hierstan.engines import CmdStanEngine, native_build
from hierstan.engines.native_engine import log_density, log_density_gradient
from hierstan.models import get_family
from hierstan.programs import Program, load_program

REFERENCE = Path(__file__).parents[1] / "reference" / "stan"
RTOL = 1e-10


def _thai(label: str) -> dict:
    family = get_family("thai")
    variant = "random_slope_correlated" if "correlated" in label else "random_slope"
    plain = "plain" in label
    data = dict(family.prepare(None, variant=variant,
                               parameterization="noncentered_plain" if plain else "noncentered").data)
    if "mixed" in label:  # some schools centered, some not (`auto` centres none on the full data)
        data["centered"] = (np.arange(data["J"]) % 3 == 0).astype(int)
    if "all_centered" in label:
        data["centered"] = np.ones(data["J"], dtype=int)
    if "pupils" in label:
        data["use_cells"] = 0
    return data


def _exam(variant: str, label: str) -> dict:
    return dict(get_family("exam").prepare(None, variant=variant, standardise="raw" not in label).data)


def _flags(data: dict, label: str) -> dict:
    return {**data, "pointwise": int("pointwise" in label), "prior_only": int("prior_only" in label)}


# program: data labels (words: correlated, plain, mixed, all_centered, pupils, raw, pointwise,
# prior_only), each the family's shipped data with those flags
CASES = {
    "thai_random_slope": ["noncentered", "correlated", "plain", "mixed", "correlated_mixed",
                          "correlated_all_centered", "pupils_correlated_mixed", "prior_only",
                          "correlated_pointwise"],
    "exam_lkj": ["standardised", "raw", "prior_only", "pointwise"],
    "exam_bugs": ["standardised", "raw", "prior_only"],
}


def _data(name: str, label: str) -> dict:
    data = _thai(label) if name.startswith("thai") else _exam(name.removeprefix("exam_"), label)
    return _flags(data, label)


def _unconstrained_size(name: str, data: dict) -> int:
    if name == "thai_random_slope":
        return 4 + 2 * data["J"] + data["correlated"]
    # gamma_std, beta_std, theta, phi_std, z; then tau_std and L_Omega (lkj) or L_std (bugs)
    return 3 + 8 + 1 + 1 + 3 * data["J"] + (3 + 3 if name == "exam_lkj" else 6)


def _cholesky_corr(rng, k: int) -> np.ndarray:
    a = rng.normal(size=(k, 2 * k))
    cov = a @ a.T
    d = np.sqrt(np.diag(cov))
    return np.linalg.cholesky(cov / np.outer(d, d))


def _constrained_point(name: str, data: dict, rng) -> dict:
    J = data["J"]
    if name == "thai_random_slope":
        k = 2 if data["correlated"] else 0
        return {"mu_alpha": rng.normal(), "sigma_alpha": np.exp(rng.normal()), "mu_beta": rng.normal(),
                "sigma_beta": np.exp(rng.normal()), "z_alpha": rng.normal(size=J),
                "z_beta": rng.normal(size=J),
                "L_Omega": _cholesky_corr(rng, 2) if k else np.zeros((0, 0))}
    point = {"gamma_std": rng.normal(size=3), "beta_std": rng.normal(size=8), "theta": rng.normal(),
             "phi_std": 0.1 * rng.normal(), "z": rng.normal(size=(3, J))}
    if name == "exam_lkj":
        return {**point, "tau_std": np.exp(rng.normal(size=3)), "L_Omega": _cholesky_corr(rng, 3)}
    lower = np.tril(rng.normal(size=(3, 3)), -1) + np.diag(np.exp(rng.normal(size=3)))
    return {**point, "L_std": lower}


@pytest.fixture(scope="module", params=sorted(CASES))
def programs(request):
    name = request.param
    before = Program(name, (REFERENCE / f"{name}_before.stan").read_text())
    return name, before, load_program(name)


def test_rewritten_programs_are_compiled_with_o1(programs):
    name, before, after = programs
    assert after.stanc_options == ("--O1",) and before.stanc_options == (), name
    # the native build's log holds its stanc command (a cached build: the log of the one that made it)
    stanc_command = next(line for line in (native_build.executable(after)[0].parent / "build.log")
                         .read_text().splitlines() if line.startswith("$") and "stanc" in line)
    assert " --O1 " in stanc_command, stanc_command


def test_same_log_density_and_gradient(programs):
    name, before, after = programs
    rng = np.random.default_rng(20240530)
    for label in CASES[name]:
        data = _data(name, label)
        size = _unconstrained_size(name, data)
        points = rng.normal(size=(6, size)) * np.array([0.3, 0.3, 1.0, 1.0, 2.0, 2.0])[:, None]
        lp_before, grad_before = log_density_gradient(before, data, points)
        lp_after, grad_after = log_density_gradient(after, data, points)
        assert np.all(np.isfinite(lp_before)) and grad_before.shape == (6, size), (name, label)
        np.testing.assert_allclose(lp_after, lp_before, rtol=RTOL, err_msg=f"{name} {label}")
        for g_after, g_before in zip(grad_after, grad_before):
            np.testing.assert_allclose(g_after, g_before, rtol=RTOL, atol=RTOL * np.abs(g_before).max(),
                                       err_msg=f"{name} {label}")
        # as the sampler sees it (lp__): Stan's `~` constants dropped alike, no Jacobian
        constrained = [_constrained_point(name, data, rng) for _ in range(3)]
        np.testing.assert_allclose(log_density(after, data, constrained),
                                   log_density(before, data, constrained), rtol=RTOL,
                                   err_msg=f"{name} {label} (constants dropped)")


@pytest.mark.cmdstan
@pytest.mark.skipif(not CmdStanEngine.available(), reason="CmdStan is not installed")
def test_same_outputs_from_the_same_draws():
    # the output computed from the draws: generated quantities of the old and the new Thai program
    # from one set of draws, by CmdStan's standalone generated quantities (which copies the
    # parameters and transformed parameters from the draws but recomputes alpha and beta for
    # log_lik, pupil by pupil, and y_rep, same seed); with schools of both kinds, correlated.
    # Exam's output code is unchanged text.
    name = "thai_random_slope"
    data = _flags(_thai("correlated_mixed"), "pointwise")
    engine = CmdStanEngine()
    before, _ = engine._model(Program(name, (REFERENCE / f"{name}_before.stan").read_text()), False)
    after, _ = engine._model(load_program(name), False)
    with warnings.catch_warnings(record=True):
        fit = before.sample(data=data, chains=1, iter_warmup=30, iter_sampling=20, seed=3, sig_figs=18,
                            show_progress=False)
        outputs = [model.generate_quantities(data=data, previous_fit=fit, seed=5, sig_figs=18)
                   for model in (before, after)]
    old, new = (gq.stan_variables() for gq in outputs)
    assert set(old) == set(new) >= {"alpha", "beta", "Omega", "log_lik", "y_rep"}
    for variable in old:
        np.testing.assert_allclose(new[variable], old[variable], rtol=RTOL, atol=1e-14, err_msg=variable)
