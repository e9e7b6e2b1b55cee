"""Per-program stanc options: the `// hierstan-stanc:` line, read once for both engines, and in
each engine's cache key and stanc call (no compilation)."""

import pytest

from hierstan.engines import cmdstan_engine
from hierstan.programs import STANC_OPTIONS, Program, load_program, program_names


def test_marker_is_read_from_the_program_text():
    assert Program("p", "// hierstan-stanc: --O1\nparameters { real x; }\n").stanc_options == ("--O1",)
    assert Program("p", "  //hierstan-stanc:   --O1 --O1\n").stanc_options == ("--O1",)
    assert Program("p", "parameters { real x; }  // stanc --O1\n").stanc_options == ()
    with pytest.raises(ValueError, match="unsupported stanc option"):
        Program("p", "// hierstan-stanc: --O1 --allow-undefined\n").stanc_options  # noqa: B018


def test_shipped_programs_ask_only_for_supported_options():
    asked = {name: load_program(name).stanc_options for name in program_names()}
    assert {name for name, options in asked.items() if options} >= {"exam_lkj", "exam_bugs",
                                                                      "thai_random_slope"}
    assert all(set(options) <= set(STANC_OPTIONS) for options in asked.values())


def test_cmdstanpy_gets_the_same_options():
    assert cmdstan_engine._stanc(Program("p", "// hierstan-stanc: --O1\n")) == {"stanc_options": {"O1": True}}
    # none: CmdStanModel is called as before
    assert cmdstan_engine._stanc(Program("p", "parameters { real x; }\n")) == {}
