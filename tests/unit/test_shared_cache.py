"""A compile cache others could write to is refused before hierstan runs or builds anything
from it (hierstan.cache.check_private); hierstan's own builds leave nothing writable by others
whatever the umask. The builds are faked, as in test_cache_faults.py: no compiler runs."""

import grp
import os
import pwd
import stat
from pathlib import Path

import pytest

from hierstan import CacheError, SamplingError
from hierstan import cache as cache_module
from hierstan.cache import check_private
from hierstan.engines import SamplerSettings, native_build
from hierstan.engines.cmdstan_engine import CmdStanEngine
from hierstan.programs import Program

ROOT_USER = os.geteuid() == 0
TINY = Program("tiny", "parameters { real x; } model { x ~ normal(0, 1); }\n")
OTHER = Program("other", "parameters { real y; } model { y ~ normal(1, 1); }\n")



@pytest.fixture
def built(fake_native):
    """A cache holding TINY's entry, built by us under the usual umask."""
    cache, runs = fake_native
    exe, _ = native_build.executable(TINY)
    runs.clear()
    return cache, exe, runs


def _shared_group() -> int | None:
    """A group with members other than us (so its write permission matters), that we may give
    a file of ours: any group as root; as another user, one of ours that is not ours alone."""
    cache_module._group_of_user_alone.cache_clear()
    if ROOT_USER:
        return grp.getgrnam("nogroup").gr_gid if "nogroup" in {g.gr_name for g in grp.getgrall()} else 65534
    shared = [gid for gid in os.getgroups() if not cache_module._group_of_user_alone(gid)]
    return shared[0] if shared else None


def _add_mode(path: Path, bits: int) -> None:
    path.chmod(stat.S_IMODE(path.stat().st_mode) | bits)


def _places(cache: Path, exe: Path) -> dict[str, Path]:
    return {"cache": cache, "engine folder": cache / "native", "entry": exe.parent, "executable": exe}


@pytest.mark.parametrize("place", ["cache", "engine folder", "entry", "executable"])
def test_world_writable_part_of_the_cache_is_refused(built, place):
    cache, exe, runs = built
    path = _places(cache, exe)[place]
    _add_mode(path, 0o002)
    mode = stat.S_IMODE(path.stat().st_mode)
    with pytest.raises(CacheError) as found:
        native_build.executable(TINY)
    message = str(found.value)
    assert f"refusing to use {exe} from the compile cache: {path} is writable by every user" in message
    assert f"(owner {pwd.getpwuid(os.geteuid()).pw_name}, mode {mode:04o})" in message
    assert f"fix: chmod -R go-w {path}, or set HIERSTAN_CACHE_DIR to a folder of your own" in message
    assert runs == []  # nothing built over it either
    path.chmod(mode & ~0o022)
    assert native_build.executable(TINY) == (exe, False)


@pytest.mark.parametrize("place", ["cache", "entry", "executable"])
def test_group_writable_part_of_the_cache_is_refused(built, place):
    cache, exe, runs = built
    gid = _shared_group()
    if gid is None:
        pytest.skip("no group with other members that this user may give a file to")
    path = _places(cache, exe)[place]
    os.chown(path, -1, gid)
    _add_mode(path, 0o020)
    mode = stat.S_IMODE(path.stat().st_mode)
    with pytest.raises(CacheError) as found:
        native_build.executable(TINY)
    message = str(found.value)
    assert f"{path} is writable by the group {grp.getgrgid(gid).gr_name} (owner " in message
    assert f"mode {mode:04o})" in message and f"fix: chmod -R go-w {path}," in message
    assert runs == []


def test_group_writable_by_the_users_own_group_alone_passes(built, monkeypatch):
    # umask 002 with user private groups (Debian, Ubuntu) makes folders g+w for a group of one
    cache, exe, runs = built
    monkeypatch.setattr(cache_module, "_group_of_user_alone", lambda gid: True)
    _add_mode(exe.parent, 0o020)
    assert native_build.executable(TINY) == (exe, False)
    _add_mode(exe.parent, 0o002)
    with pytest.raises(CacheError, match="is writable by every user"):
        native_build.executable(TINY)


def test_a_group_is_the_users_alone_only_with_no_other_member(monkeypatch):
    me = pwd.struct_passwd(("me", "x", 1000, 1000, "", "/home/me", "/bin/sh"))
    other = pwd.struct_passwd(("other", "x", 1001, 1001, "", "/home/other", "/bin/sh"))
    joins = pwd.struct_passwd(("joins", "x", 1002, 1000, "", "/home/joins", "/bin/sh"))
    groups = {1000: grp.struct_group(("me", "x", 1000, [])), 1001: grp.struct_group(("other", "x", 1001, [])),
              50: grp.struct_group(("staff", "x", 50, ["me", "other"])),
              51: grp.struct_group(("mine", "x", 51, ["me"]))}
    users = [me, other]
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: {1000: me, 1001: other}[uid])
    monkeypatch.setattr(pwd, "getpwall", lambda: users)
    monkeypatch.setattr(grp, "getgrgid", lambda gid: groups[gid])
    alone = cache_module._group_of_user_alone.__wrapped__
    assert alone(1000) and alone(51)
    assert not alone(1001)  # another user's group, not ours
    assert not alone(50)  # shared with other
    assert not alone(4242)  # unknown group
    users.append(joins)  # another user has our group as primary group
    assert not alone(1000)


def test_writable_folder_above_the_cache_is_refused_unless_sticky(built):
    cache, exe, runs = built
    shared = cache.parent
    _add_mode(shared, 0o002)
    with pytest.raises(CacheError) as found:
        native_build.executable(TINY)
    message = str(found.value)
    assert (f"{shared}, a folder above the compile cache {cache}, is writable by every user" in message)
    assert f"fix: chmod go-w {shared}," in message  # never chmod -R on a folder above the cache
    _add_mode(shared, stat.S_ISVTX)  # as /tmp: no one renames or deletes what is not theirs
    assert native_build.executable(TINY) == (exe, False)


def test_sticky_bit_does_not_excuse_a_writable_folder_inside_the_cache(built):
    cache, exe, runs = built
    _add_mode(cache, 0o002 | stat.S_ISVTX)
    with pytest.raises(CacheError, match=f"{cache} is writable by every user"):
        native_build.executable(TINY)


def test_unsafe_cache_refuses_to_build(fake_native):
    cache, runs = fake_native
    native_build.executable(TINY)
    runs.clear()
    _add_mode(cache, 0o002)
    with pytest.raises(CacheError, match=f"refusing to use {cache / 'native'} from the compile cache"):
        native_build.executable(OTHER)
    assert runs == [] and not [p for p in (cache / "native").iterdir() if "other" in p.name]


@pytest.mark.skipif(not ROOT_USER, reason="giving a file to another user needs root")
@pytest.mark.parametrize("place", ["entry", "executable"])
def test_entry_owned_by_another_user_is_refused(built, place):
    cache, exe, runs = built
    path = _places(cache, exe)[place]
    nobody = pwd.getpwnam("nobody")
    os.chown(path, nobody.pw_uid, -1)
    with pytest.raises(CacheError) as found:
        native_build.executable(TINY)
    message = str(found.value)
    assert f"{path} is owned by another user (owner nobody, mode 0" in message
    assert "not by you or root, so another user could replace" in message
    assert f"fix: have root own it (as root: chown -R root: {path})" in message
    assert runs == []


def test_cache_prebuilt_by_root_serves_another_user(built, monkeypatch):
    cache, exe, runs = built
    if exe.stat().st_uid != 0:
        pytest.skip("the cache must be owned by root: run as root")
    nobody = pwd.getpwnam("nobody").pw_uid
    monkeypatch.setattr(os, "geteuid", lambda: nobody)  # as nobody sees it: everything is root's
    cache_module._group_of_user_alone.cache_clear()
    try:
        check_private(exe)
        os.chown(exe, nobody, -1)  # the user's own file in root's cache: theirs, so trusted too
        check_private(exe)
        os.chown(exe, 54321, -1)  # a third account's
        with pytest.raises(CacheError, match=r"owned by another user \(owner uid 54321, mode"):
            check_private(exe)
    finally:
        cache_module._group_of_user_alone.cache_clear()


# hierstan's own builds under a permissive umask -----------------------------------------------


def _writable_by_others(cache: Path) -> list[str]:
    return [f"{p} {stat.S_IMODE(p.stat().st_mode):04o}" for p in [cache, *cache.rglob("*")]
            if not p.is_symlink() and p.stat().st_mode & 0o022]


@pytest.mark.parametrize("umask", [0o002, 0o000])
def test_native_build_under_a_permissive_umask_leaves_nothing_writable_by_others(fake_native, umask):
    cache, runs = fake_native
    before = os.umask(umask)
    try:
        exe, built_now = native_build.executable(TINY)
    finally:
        os.umask(before)
    assert built_now and "compiling tiny" in runs and "precompiling Stan's model header" in runs
    assert _writable_by_others(cache) == []
    assert native_build.executable(TINY) == (exe, False)


@pytest.mark.parametrize("umask", [0o002, 0o000])
def test_cmdstan_build_under_a_permissive_umask_leaves_nothing_writable_by_others(fake_cmdstan, umask):
    cache, calls = fake_cmdstan
    before = os.umask(umask)
    try:
        _sample(TINY)
    finally:
        os.umask(before)
    assert calls == ["compile"]
    assert _writable_by_others(cache) == []
    _sample(TINY)
    assert calls == ["compile", "load"]


# CmdStan engine (cmdstanpy faked) ---------------------------------------------------------------



def _sample(program):
    with pytest.raises(SamplingError, match="CmdStan failed while sampling"):
        CmdStanEngine().sample(program, {}, SamplerSettings(chains=1, draws=1, warmup=1, progress=False))


def test_cmdstan_executable_writable_by_others_is_not_loaded(fake_cmdstan):
    cache, calls = fake_cmdstan
    _sample(TINY)
    [exe] = [p for p in cache.glob("cmdstan/*/tiny")]
    _add_mode(exe, 0o002)
    calls.clear()
    with pytest.raises(CacheError, match=f"{exe} is writable by every user .* fix: chmod -R go-w {exe},"):
        CmdStanEngine().sample(TINY, {}, SamplerSettings(chains=1, draws=1, warmup=1, progress=False))
    assert calls == []  # neither loaded nor compiled again
