"""hierstan's own warmup in the native driver (adaptation="hierstan", the native default) on
targets whose answer is known in closed form. Its calibration on the families' posteriors is
checked by SBC (results/sbc_summary.md); its identity with Stan's service without warmup in
test_cmdstan.py."""

import numpy as np
import pytest

import hierstan
from hierstan.engines import NativeEngine, SamplerSettings
from hierstan.programs import Program

# independent normals whose scales span six orders of magnitude: a unit metric would need step
# sizes of 1e-3 and trees of 1e6 leapfrog steps; the adapted diagonal must find every scale
SCALES = Program("scales", """
data { int<lower=1> n; vector<lower=0>[n] s; vector[n] m; }
parameters { vector[n] x; }
model { x ~ normal(m, s); }
""")
S = np.logspace(-3, 3, 12)
M = np.linspace(-5, 5, 12)


@pytest.fixture(scope="module")
def scales():
    settings = SamplerSettings(chains=4, draws=1000, warmup=400, seed=7, progress=False, threads=2)
    return NativeEngine().sample(SCALES, {"n": len(S), "s": S, "m": M}, settings)


def test_adapted_metric_finds_every_scale(scales):
    assert scales.adaptation_method == "hierstan"
    inv_metric = scales.adaptation["inv_metric"]  # (chain, parameter): the variances
    assert inv_metric.shape == (4, len(S))
    # variances spanning 12 orders of magnitude, each found to within a factor of 2 (the warmup
    # settles after two late windows: estimates from 80-160 draws)
    ratio = inv_metric / S**2
    assert np.all((ratio > 0.5) & (ratio < 2)), ratio
    # with the right metric the target is a standard normal: step sizes near its optimum
    assert np.all((scales.adaptation["step_size"] > 0.4) & (scales.adaptation["step_size"] < 1.5))


def test_draws_have_the_closed_form_moments(scales):
    x = scales.variables["x"].reshape(-1, len(S))
    assert scales.sampler["divergent__"].sum() == 0
    # 4000 near-independent draws: means within 5 standard errors, sds within 10%
    np.testing.assert_array_less(np.abs(x.mean(axis=0) - M) / (S / np.sqrt(len(x) / 2)), 5)
    np.testing.assert_allclose(x.std(axis=0) / S, 1, atol=0.1)


def test_warmup_is_counted_and_bounded(scales):
    warmup = scales.warmup
    # an easy target settles at the first chance: an early phase of 120, two late windows of 80
    # and a final window of 50 iterations, below the 400 asked for
    np.testing.assert_array_equal(warmup["iterations"], 330)
    assert np.all(warmup["gradients"] > 400) and np.all(warmup["seconds"] >= 0)
    # adapted well, a warmup costs far less than the unit metric's 1e6 steps per iteration
    assert np.all(warmup["gradients"] < 400 * 64)


def test_warmup_is_an_upper_bound():
    # too short to settle: exactly the iterations asked for; none: Stan's step size 1, unit metric
    for warmup in (100, 0):
        settings = SamplerSettings(chains=1, draws=50, warmup=warmup, seed=7, progress=False)
        fit = NativeEngine().sample(SCALES, {"n": len(S), "s": S, "m": M}, settings)
        np.testing.assert_array_equal(fit.warmup["iterations"], warmup)
    assert fit.adaptation == {} and np.all(fit.sampler["stepsize__"] == 1)


def test_stan_adaptation_stays_selectable(scales):
    settings = SamplerSettings(chains=2, draws=200, warmup=300, seed=7, progress=False,
                               adaptation="stan")
    stan = NativeEngine().sample(SCALES, {"n": len(S), "s": S, "m": M}, settings)
    assert stan.adaptation_method == "stan"
    np.testing.assert_array_equal(stan.warmup["gradients"], -1)  # Stan's service does not count them
    assert stan.adaptation["inv_metric"].shape == (2, len(S))


# strongly correlated pairs beside independent coordinates: a diagonal metric leaves each pair's
# narrow direction 20x narrower than its wide one; the low-rank metric finds those directions
CORRELATED = Program("correlated", """
data { int<lower=1> k; real<lower=-1, upper=1> rho; vector<lower=0>[k] s; }
transformed data {
  matrix[2, 2] L = cholesky_decompose([[1, rho], [rho, 1]]);
}
parameters { array[k] vector[2] pair; vector[k] free; }
model {
  for (i in 1:k) pair[i] ~ multi_normal_cholesky(rep_vector(0, 2), s[i] * L);
  free ~ normal(0, s);
}
""")
RHO = 0.9975
K_PAIRS = 3
PAIR_SCALES = np.array([0.01, 1.0, 100.0])


@pytest.fixture(scope="module")
def correlated():
    data = {"k": K_PAIRS, "rho": RHO, "s": PAIR_SCALES}
    fits = {}
    for metric in ("diag", "low_rank"):
        settings = SamplerSettings(chains=2, draws=1000, warmup=600, seed=5, progress=False,
                                   metric=metric)
        fits[metric] = NativeEngine().sample(CORRELATED, data, settings)
    return fits


def test_low_rank_metric_follows_correlations(correlated):
    diag, low_rank = correlated["diag"], correlated["low_rank"]
    steps = {name: fit.sampler["n_leapfrog__"].mean() for name, fit in correlated.items()}
    # the diagonal needs long trajectories along each pair's wide direction; the low-rank one
    # rescales those directions and needs a fraction of the steps
    assert steps["low_rank"] < 0.4 * steps["diag"], steps
    for fit in (diag, low_rank):
        assert fit.sampler["divergent__"].sum() == 0
        pair = fit.variables["pair"].reshape(-1, K_PAIRS, 2)
        r = [np.corrcoef(pair[:, i, 0], pair[:, i, 1])[0, 1] for i in range(K_PAIRS)]
        np.testing.assert_allclose(r, RHO, atol=0.002)
        np.testing.assert_allclose(pair.std(axis=0) / PAIR_SCALES[:, None], 1, atol=0.15)
    # the reported inverse metric is the metric's marginal variances: each coordinate's own
    variances = low_rank.adaptation["inv_metric"]
    expected = np.concatenate([np.repeat(PAIR_SCALES, 2), PAIR_SCALES]) ** 2
    np.testing.assert_allclose(variances / expected, 1, atol=0.5)


def test_low_rank_needs_hierstans_warmup():
    with pytest.raises(hierstan.DataError, match="hierstan's warmup only"):
        SamplerSettings(adaptation="stan", metric="low_rank")
