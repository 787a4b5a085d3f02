"""Where the installed Prosody's Lua sources live (the sandbox runs its core from there)."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess

ENV_VAR = "PROSODY_HARNESS_PROSODY_SRC"
DEFAULT_SOURCE_DIR = "/usr/lib/prosody"
# Where Debian's Lua 5.4 keeps LuaSocket & co., which net.http and friends need.
LUA_PATHS = (
    "/usr/local/share/lua/5.4/?.lua",
    "/usr/local/share/lua/5.4/?/init.lua",
    "/usr/share/lua/5.4/?.lua",
    "/usr/share/lua/5.4/?/init.lua",
)
LUA_CPATHS = (
    "/usr/local/lib/lua/5.4/?.so",
    "/usr/lib/x86_64-linux-gnu/lua/5.4/?.so",
    "/usr/lib/lua/5.4/?.so",
)


class ProsodySourceError(RuntimeError):
    """No usable Prosody source directory was found."""


def _is_source_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "core", "moduleapi.lua"))


@functools.lru_cache(maxsize=1)
def _from_prosodyctl() -> str | None:
    prosodyctl = shutil.which("prosodyctl")
    if not prosodyctl:
        return None
    try:
        out = subprocess.run([prosodyctl, "about"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"^Source directory:\s*(\S+)", out.stdout, re.MULTILINE)
    return found.group(1) if found else None


def find_source_dir(explicit: str | None = None) -> str:
    """The option, else $PROSODY_HARNESS_PROSODY_SRC, else the default, else `prosodyctl about`."""
    candidates = [
        ("the prosody_source option", explicit),
        (f"${ENV_VAR}", os.environ.get(ENV_VAR)),
    ]
    for where, path in candidates:
        if path:
            if not _is_source_dir(path):
                raise ProsodySourceError(f"{where} names {path!r}, which has no core/moduleapi.lua")
            return path
    if _is_source_dir(DEFAULT_SOURCE_DIR):
        return DEFAULT_SOURCE_DIR
    path = _from_prosodyctl()
    if path and _is_source_dir(path):
        return path
    raise ProsodySourceError(
        "cannot find Prosody's Lua sources: install prosody (Debian: apt-get install prosody "
        f"lua-cjson) or set ${ENV_VAR} to its source directory"
    )


def version(source_dir: str) -> str:
    try:
        with open(os.path.join(source_dir, "prosody.version")) as file:
            return file.read().strip()
    except OSError:
        return "unknown"
