"""The deeper profile of the property tests (tests/properties.py): more examples per family, and
every frame that prepares is handed to the native driver's data-only mode, so Stan's own checks
of the constraints the program's data block declares run on it (no sampling)."""

from __future__ import annotations

import warnings
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from properties import cases, check

from hierstan.engines import native_engine
from hierstan.errors import DataWarning, SamplingError
from hierstan.models import FAMILIES
from hierstan.programs import load_program

# examples per family (thai's pilot fits make it the slowest, about 0.5 s an example)
EXAMPLES = {"thai": 150}
DEEP = dict(deadline=None, derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
OUTCOMES: Counter = Counter()


def stan_accepts(prepared) -> None:
    native_engine.check_data(load_program(prepared.program), prepared.data)


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_prepared_data_satisfy_the_programs_own_constraints(name):
    family = FAMILIES[name]

    @settings(max_examples=EXAMPLES.get(name, 400), **DEEP)
    @given(data=st.data())
    def prepared_or_refused(data):
        frame, kwargs = data.draw(cases(family))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            OUTCOMES[name, check(family, frame, kwargs, engine_check=stan_accepts)] += 1

    prepared_or_refused()


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_the_generator_reaches_both_outcomes(name):
    """Runs after the property above: a generator that only ever produced refusals (or only
    clean data) would test half the property."""
    if not any(family == name for family, _ in OUTCOMES):
        pytest.skip("the property test did not run in this session")
    assert OUTCOMES[name, "prepared"] >= 5 and OUTCOMES[name, "refused"] >= 5, dict(OUTCOMES)


def test_the_data_only_mode_catches_a_broken_constraint():
    """The engine check can fail: data that prepare never produces (a negative count) are refused
    by Stan itself, with its message naming the variable; the same data less the spoiling pass."""
    prepared = FAMILIES["eight_schools"].prepare(None)
    program = load_program(prepared.program)
    assert native_engine.check_data(program, prepared.data) == 2 + prepared.data["J"]
    spoiled = {**prepared.data, "sigma": -prepared.data["sigma"]}
    with pytest.raises(SamplingError, match=r"sigma\[1\] is -15, but must be greater than or equal to 0"):
        native_engine.check_data(program, spoiled)
