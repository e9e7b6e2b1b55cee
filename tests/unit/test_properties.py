"""Property-based tests of every family's ``prepare`` (tests/properties.py says what is generated
and what must hold): the fast tier's bounded run, without the engine. The slow tier's deeper run,
with Stan's own data checks, is tests/integration/test_properties_engine.py."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from properties import cases, check, check_cli, csv_cases

from hierstan.errors import DataWarning
from hierstan.models import FAMILIES

FAST = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.filterwarnings("error::RuntimeWarning")  # raw numpy warnings reach no user
@pytest.mark.parametrize("name", sorted(FAMILIES))
@FAST
@given(data=st.data())
def test_prepare_refuses_clearly_or_prepares_without_touching_the_frame(name, data):
    family = FAMILIES[name]
    frame, kwargs = data.draw(cases(family))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        check(family, frame, kwargs)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # raw numpy warnings reach no user
@pytest.mark.parametrize("name", sorted(FAMILIES))
@FAST
@given(data=st.data())
def test_the_cli_refuses_a_data_file_clearly_or_prepares_it(name, data, tmp_path_factory):
    family = FAMILIES[name]
    raw, options, columns = data.draw(csv_cases(family))
    check_cli(family, raw, options, columns, tmp_path_factory.mktemp("cli"))
