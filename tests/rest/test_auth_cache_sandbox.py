"""mod_http_auth_cache in the sandbox, on its virtual clock: what it caches, for how long,
and what drops an entry. Whether the account store was asked shows in the log line
internal_hashed writes for every password check."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.profile import Profile, VirtualHostProfile
from harness.sandbox import Sandbox

HOST = "localhost"
CHECKED = "test password for user"


@pytest.fixture
def box() -> Iterator[Sandbox]:
    profile = Profile(
        hosts={
            HOST: VirtualHostProfile(
                HOST, options={"http_auth_cache_ttl": 30, "http_auth_cache_size": 3}
            )
        }
    )
    with Sandbox(profile) as sandbox:
        sandbox.load_module("http_auth_cache")
        for user in ("john", "marie", "anna", "otto"):
            sandbox.create_user(user, HOST, "s3cret")
        yield sandbox


def check(box: Sandbox, user: str, password: str = "s3cret") -> bool:
    return box.lua_eval(
        "local cache = prosody.hosts[...].modules.http_auth_cache\n"
        "return cache.test_password(select(2, ...))",
        HOST,
        user,
        password,
    )


def store_checks(box: Sandbox) -> int:
    return sum(CHECKED in line.message for line in box.log())


def test_a_verified_password_is_checked_once_within_the_ttl(box: Sandbox) -> None:
    before = store_checks(box)
    assert check(box, "john") and check(box, "john") and check(box, "john")
    assert store_checks(box) - before == 1
    box.advance(31)
    assert check(box, "john")
    assert store_checks(box) - before == 2


def test_wrong_passwords_are_never_cached(box: Sandbox) -> None:
    before = store_checks(box)
    assert not check(box, "john", "wrong") and not check(box, "john", "wrong")
    assert store_checks(box) - before == 2
    assert not check(box, "nobody")


def test_password_change_and_deletion_drop_the_entries(box: Sandbox) -> None:
    assert check(box, "john") and check(box, "marie")
    box.lua_eval("return require'core.usermanager'.set_password('john', 'n3w', ...)", HOST)
    assert not check(box, "john")
    assert check(box, "john", "n3w")
    box.lua_eval("return require'core.usermanager'.delete_user('marie', ...)", HOST)
    assert not check(box, "marie")


def test_the_size_bound_forgets_the_least_recently_used(box: Sandbox) -> None:
    for user in ("john", "marie", "anna", "otto"):
        assert check(box, user)
    count = box.lua_eval("return prosody.hosts[...].modules.http_auth_cache.cached_count()", HOST)
    assert count == 3
    before = store_checks(box)
    assert check(box, "john")  # the oldest, evicted: checked again
    assert store_checks(box) - before == 1


def test_the_cache_holds_no_password(box: Sandbox) -> None:
    assert check(box, "john", "s3cret")
    found = box.lua_eval(
        """
        local needle = "s3cret"
        local seen, found = {}, false
        local function walk(value)
            if found or seen[value] then return end
            if type(value) == "string" then found = value:find(needle, 1, true) ~= nil; return end
            if type(value) ~= "table" then return end
            seen[value] = true
            for k, v in pairs(value) do walk(k); walk(v) end
        end
        local env = prosody.hosts[...].modules.http_auth_cache
        for i = 1, math.huge do
            local name, value = debug.getupvalue(env.test_password, i)
            if not name then break end
            walk(value)
        end
        return found
    """,
        HOST,
    )
    assert found is False
