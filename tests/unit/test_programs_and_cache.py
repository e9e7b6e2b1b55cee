"""Shipped programs, include expansion, cache location and keys, engine choice (no compilation)."""

import pytest

import hierstan
from hierstan import EngineUnavailableError
from hierstan.cache import cache_dir, cache_key
from hierstan.engines import CmdStanEngine, PyStanEngine, get_engine
from hierstan.programs import _expand, load_program, program_names


def test_every_program_is_self_contained():
    names = program_names()
    assert {"eight_schools_centered", "eight_schools_noncentered"} <= set(names)
    for name in names:
        code = load_program(name).code
        assert "#include" not in code
        assert "log_lik" in code and "y_rep" in code and "prior_only" in code


def test_include_expansion_and_cycles(tmp_path):
    (tmp_path / "a.stan").write_text("real a;\n#include b.stan\n")
    (tmp_path / "b.stan").write_text("real b;\n")
    assert _expand("data {\n  #include a.stan\n}\n", tmp_path) == "data {\nreal a;\nreal b;\n}\n"
    (tmp_path / "b.stan").write_text("#include a.stan\n")
    with pytest.raises(ValueError, match="cycle"):
        _expand("#include a.stan\n", tmp_path)


def test_cache_dir_override(tmp_path, monkeypatch):
    monkeypatch.setenv("HIERSTAN_CACHE_DIR", str(tmp_path / "my cache"))
    assert cache_dir() == tmp_path / "my cache"
    assert cache_dir().is_dir()


def test_cache_key_depends_on_every_part():
    base = cache_key("data {}", "pystan 3.10")
    assert base == cache_key("data {}", "pystan 3.10")
    assert base != cache_key("data { }", "pystan 3.10")
    assert base != cache_key("data {}", "cmdstan 2.36")


def test_auto_engine_prefers_cmdstan():
    expected = "cmdstan" if CmdStanEngine.available() else "pystan"
    assert get_engine("auto").name == expected
    assert hierstan.available_engines()[0] == expected


@pytest.mark.skipif(CmdStanEngine.available(), reason="CmdStan is installed here")
def test_absent_cmdstan_says_how_to_install():
    with pytest.raises(EngineUnavailableError, match="hierstan install-cmdstan"):
        get_engine("cmdstan")


def test_pystan_present():
    assert PyStanEngine.available(), "PyStan is a dependency of hierstan on this platform"



def test_bench_ratios_skip_measures_no_run_produced():
    from hierstan.bench import run

    # every run failed (as without the bench extra, before the fix): only the error is known
    failed = run.pd.DataFrame({"model": ["m", "m"], "engine": ["cmdstan", "pystan"]})
    assert run.ratios(failed).columns.tolist() == ["model"]
    only_cmdstan = run.pd.DataFrame({"model": ["m"], "engine": ["cmdstan"], "sample_s": [1.0]})
    assert run.ratios(only_cmdstan).columns.tolist() == ["model"]
