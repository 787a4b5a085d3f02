"""Create accounts by writing them into Prosody's internal store, ~10x faster than prosodyctl.

`prosodyctl register` starts a Lua process per account (~40 ms); scenarios create a few
accounts each, so that adds up. For the common set-up (internal_hashed authentication,
accounts in the internal file store, SCRAM-SHA-1) the account is a small Lua file that
this module writes the way Prosody does: SCRAM keys per RFC 5802, atomic replace, so a
running server reads either the old or the new account. Anything else (another
authentication or storage, names or passwords that need stringprep) is left to
prosodyctl, which knows every case.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

from harness.prosody_config import DEFAULT_GLOBAL_OPTIONS, ResolvedConfig, lua_value

# Names nodeprep leaves as they are, passwords SASLprep leaves as they are.
PLAIN_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
PLAIN_PASSWORD = re.compile(r"^[\x20-\x7e]+$")
DEFAULT_ITERATIONS = 10000  # mod_auth_internal_hashed's default_iteration_count


def _option(config: ResolvedConfig, host: str, name: str) -> Any:
    """An option as Prosody resolves it for `host`: the host's, else the global one."""
    value = config.option(host, name)
    return DEFAULT_GLOBAL_OPTIONS.get(name) if value is None else value


def iterations_if_writable(
    profile: ResolvedConfig, host: str, username: str, password: str
) -> int | None:
    """The SCRAM iteration count to write with, or None when prosodyctl must do it."""
    if not (PLAIN_USERNAME.match(username) and PLAIN_PASSWORD.match(password)):
        return None
    if _option(profile, host, "authentication") != "internal_hashed":
        return None
    if _option(profile, host, "password_hash") not in (None, "SHA-1"):
        return None
    storage = _option(profile, host, "storage")
    if isinstance(storage, dict):
        storage = storage.get("accounts", _option(profile, host, "default_storage"))
    if storage not in (None, "internal"):
        return None
    iterations = _option(profile, host, "default_iteration_count")
    if iterations is None:
        return DEFAULT_ITERATIONS
    return iterations if isinstance(iterations, int) and iterations > 0 else None


def scram_sha1_keys(password: str, salt: str, iterations: int) -> tuple[str, str]:
    """(stored_key, server_key) in hex, as mod_auth_internal_hashed stores them."""
    salted = hashlib.pbkdf2_hmac("sha1", password.encode(), salt.encode(), iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha1")
    server_key = hmac.digest(salted, b"Server Key", "sha1")
    return hashlib.sha1(client_key).hexdigest(), server_key.hex()


def _encode(part: str) -> str:
    """datamanager's file-name encoding: every non-alphanumeric byte as %xx."""
    return "".join(c if c.isascii() and c.isalnum() else f"%{ord(c):02x}" for c in part)


def write_account(
    data_path: str | Path,
    host: str,
    username: str,
    password: str,
    iterations: int,
    version: str = "",
) -> None:
    """Write the account as `version`'s mod_auth_internal_hashed does: 13 also stores when
    the account was created and its password last set."""
    salt = str(uuid.uuid4())
    stored_key, server_key = scram_sha1_keys(password, salt, iterations)
    account: dict[str, Any] = {
        "salt": salt,
        "iteration_count": iterations,
        "stored_key": stored_key,
        "server_key": server_key,
    }
    if version and not version.startswith("0."):
        now = int(time.time())
        account.update(created=now, updated=now)
    directory = Path(data_path) / _encode(host) / "accounts"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{_encode(username)}.dat"
    scratch = path.with_name(path.name + "~")  # the scratch name datamanager uses too
    scratch.write_text(f"return {lua_value(account)};\n", encoding="utf-8")
    os.replace(scratch, path)
