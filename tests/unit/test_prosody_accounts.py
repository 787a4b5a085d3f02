"""When the prosody target may write accounts itself, and what it writes.

That real Prosody accepts the written accounts (SCRAM and PLAIN) is tested end to end in
tests/prosody/test_prosody_target.py.
"""

from __future__ import annotations

import pytest
from lupa import lua54

from harness.profile import Profile, VirtualHostProfile
from harness.prosody_config import resolve
from harness.targets.prosody_accounts import (
    iterations_if_writable,
    scram_sha1_keys,
    write_account,
)


def host_profile(**options) -> Profile:
    return Profile(hosts={"localhost": VirtualHostProfile("localhost", options=options)})


@pytest.mark.parametrize(
    "profile, username, password, expected",
    [
        (Profile(), "ann", "pw", 10000),
        (Profile(), "ann.o-k_1", "with space & symbols!", 10000),
        (Profile(options={"default_iteration_count": 4096}), "ann", "pw", 4096),
        (host_profile(default_iteration_count=20000), "ann", "pw", 20000),
        (Profile(options={"storage": "internal"}), "ann", "pw", 10000),
        (Profile(options={"storage": {"roster": "memory"}}), "ann", "pw", 10000),
        # prosodyctl's cases: stringprep would change the name or password ...
        (Profile(), "Ann", "pw", None),
        (Profile(), "ann", "pässword", None),
        (Profile(), "ann", "", None),
        # ... or the accounts are not in the internal SCRAM-SHA-1 store.
        (Profile(options={"authentication": "internal_plain"}), "ann", "pw", None),
        (host_profile(authentication="anonymous"), "ann", "pw", None),
        (Profile(options={"password_hash": "SHA-256"}), "ann", "pw", None),
        (Profile(options={"storage": "sql"}), "ann", "pw", None),
        (Profile(options={"storage": {"accounts": "memory"}}), "ann", "pw", None),
        (Profile(options={"storage": {}, "default_storage": "sql"}), "ann", "pw", None),
    ],
)
def test_writes_only_what_prosody_would_store_the_same_way(profile, username, password, expected):
    assert iterations_if_writable(resolve(profile), "localhost", username, password) == expected


def test_account_file_is_a_lua_table_in_datamanagers_layout(tmp_path):
    write_account(tmp_path, "other.test", "ann", "pw", 4096)
    path = tmp_path / "other%2etest" / "accounts" / "ann.dat"
    account = lua54.LuaRuntime().execute(path.read_text())
    assert account["iteration_count"] == 4096
    assert (account["stored_key"], account["server_key"]) == scram_sha1_keys(
        "pw", account["salt"], 4096
    )
    assert not list(path.parent.glob("*~"))  # the scratch file was renamed into place
