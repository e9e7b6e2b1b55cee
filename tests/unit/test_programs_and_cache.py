"""Shipped programs, include expansion, cache location and keys, engine choice (no compilation)."""

import subprocess
import sys

import pytest

import hierstan
from hierstan import EngineUnavailableError
from hierstan.cache import cache_dir, cache_key
from hierstan.engines import NativeEngine, get_engine, native_build
from hierstan.programs import _expand, load_program, program_names


def test_every_program_is_self_contained():
    names = program_names()
    assert {"eight_schools", "radon_varying_intercept_slope"} <= set(names)
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
    base = cache_key("data {}", "native 2.35")
    assert base == cache_key("data {}", "native 2.35")
    assert base != cache_key("data { }", "native 2.35")
    assert base != cache_key("data {}", "cmdstan 2.36")


def _arrange_cmdstan(monkeypatch, home, installed: bool) -> None:
    """A CmdStan install as cmdstanpy finds one (a folder with CmdStan's makefile named by CMDSTAN),
    or none (no CMDSTAN, no ~/.cmdstan): whatever the machine has, the test knows the answer."""
    monkeypatch.delenv("HIERSTAN_ENGINE", raising=False)
    monkeypatch.setenv("HOME", str(home))
    if installed:
        (home / "cmdstan").mkdir()
        (home / "cmdstan" / "makefile").touch()
        monkeypatch.setenv("CMDSTAN", str(home / "cmdstan"))
    else:
        monkeypatch.delenv("CMDSTAN", raising=False)


@pytest.mark.parametrize("installed, expected", [(True, "cmdstan"), (False, "native")])
def test_auto_engine_prefers_cmdstan(monkeypatch, tmp_path, installed, expected):
    _arrange_cmdstan(monkeypatch, tmp_path, installed)
    assert get_engine("auto").name == expected
    assert hierstan.available_engines()[0] == expected


def test_auto_engine_can_be_named_in_the_environment(monkeypatch):
    monkeypatch.setenv("HIERSTAN_ENGINE", "native")
    assert get_engine("auto").name == "native"
    monkeypatch.setenv("HIERSTAN_ENGINE", "pystan")
    with pytest.raises(hierstan.UnknownNameError, match=r"HIERSTAN_ENGINE"):
        get_engine("auto")


def test_absent_cmdstan_says_how_to_install(monkeypatch, tmp_path):
    _arrange_cmdstan(monkeypatch, tmp_path, installed=False)
    with pytest.raises(EngineUnavailableError, match="hierstan install-cmdstan"):
        get_engine("cmdstan")


def test_native_engine_present():
    # httpstan (Stan's library and stanc) is a dependency and the machine has g++
    assert NativeEngine.available(), native_build.unavailable_reason()
    assert "Stan 2.35.0 from httpstan 4.13.0" in NativeEngine.version()


def test_no_user_path_imports_pystan():
    # PyStan's runtime (stan, httpstan's Python modules) must not load: the engine only reads
    # the wheel's files
    code = ("import sys, hierstan, hierstan.cli, hierstan.engines; hierstan.engines.get_engine('native')"
            "; print(sorted(m for m in sys.modules if m.split('.')[0] in ('stan', 'httpstan', 'aiohttp')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_compiler_says_what_to_install(monkeypatch):
    monkeypatch.setenv("CXX", "")
    monkeypatch.setattr(native_build.shutil, "which", lambda name: None)
    assert "no C++ compiler found: install g++" in native_build.unavailable_reason()
    monkeypatch.setattr(native_build.sys, "platform", "win32")
    assert "not supported on Windows" in native_build.unavailable_reason()



def test_bench_ratios_skip_measures_no_run_produced():
    from hierstan.bench import run

    # every run failed (as without the bench extra, before the fix): only the error is known
    failed = run.pd.DataFrame({"model": ["m", "m"], "engine": ["cmdstan", "native"]})
    assert run.ratios(failed).columns.tolist() == ["model"]
    only_cmdstan = run.pd.DataFrame({"model": ["m"], "engine": ["cmdstan"], "sample_s": [1.0]})
    assert run.ratios(only_cmdstan).columns.tolist() == ["model"]
