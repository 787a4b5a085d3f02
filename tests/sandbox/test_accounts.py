"""Accounts the harness creates: internal_hashed records, made cheaply but the same."""

from __future__ import annotations

import pytest

from harness.profile import Profile
from harness.sandbox import Sandbox
from harness.target import TargetError

RECORD = """
local record = require "core.storagemanager".open("localhost", "accounts"):get(...)
return record.salt, record.iteration_count, record.stored_key ~= nil, record.password
"""


def _account(password: str):
    with Sandbox(Profile()) as box:
        box.create_user("kim", "localhost", password)
        kim = box.connect("kim@localhost", password)
        assert kim.jid.startswith("kim@localhost/")
        with pytest.raises(TargetError, match="not-authorized"):
            box.connect("kim@localhost", password + "x")
        return box.lua_eval(RECORD, "kim")


def test_accounts_are_hashed_records_that_log_in_in_every_sandbox():
    first = _account("a fresh password 1")
    again = _account("a fresh password 1")  # from the remembered record
    _salt, iterations, has_key, plain = again
    assert again == first
    assert iterations == 4096 and has_key and plain is None  # hashed, never plain


def test_a_different_password_gets_its_own_record():
    assert _account("password one")[0] != _account("password two")[0]
