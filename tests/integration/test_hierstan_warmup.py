"""hierstan's own warmup in the native driver (adaptation="hierstan", the native default) on
targets whose answer is known in closed form. Its calibration on the families' posteriors is
checked by SBC (results/sbc_summary.md); its identity with Stan's service without warmup in
test_cmdstan.py."""

import numpy as np
import pytest

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
    ratio = inv_metric / S**2
    assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio
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
    np.testing.assert_array_equal(warmup["iterations"], 400)
    assert np.all(warmup["gradients"] > 400) and np.all(warmup["seconds"] >= 0)
    # adapted well, a warmup costs far less than the unit metric's 1e6 steps per iteration
    assert np.all(warmup["gradients"] < 400 * 64)


def test_stan_adaptation_stays_selectable(scales):
    settings = SamplerSettings(chains=2, draws=200, warmup=300, seed=7, progress=False,
                               adaptation="stan")
    stan = NativeEngine().sample(SCALES, {"n": len(S), "s": S, "m": M}, settings)
    assert stan.adaptation_method == "stan"
    np.testing.assert_array_equal(stan.warmup["gradients"], -1)  # Stan's service does not count them
    assert stan.adaptation["inv_metric"].shape == (2, len(S))
