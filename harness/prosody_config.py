"""Render a Profile into a prosody.cfg.lua for a real Prosody (local binary or container).

Python values become Lua values (str, int, float, bool, list, tuple, dict, nested; None
means "not set" and is left out). The harness owns the settings that make a server
private and drivable (loopback, its own ports, paths and log); a profile may override the
defaults that only relax security for tests (authentication, encryption, ...), never those.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.profile import BASE_HOST_MODULES, Profile

# Every virtual host also loads mod_http so that Prosody's HTTP server always answers
# (readiness and `http` steps); a profile can still disable it.
HARNESS_HOST_MODULES = (*BASE_HOST_MODULES, "http")

LUA_KEYWORDS = frozenset(
    "and break do else elseif end false for function goto if in local nil not or repeat "
    "return then true until while".split()
)
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Defaults for tests: plaintext c2s login on loopback, no Nagle stalls (see PROSODY_NOTES).
# internal_hashed is what Prosody ships and what deployments run, so password checks
# (SASL, HTTP Basic in mod_rest & co.) behave exactly as in production.
DEFAULT_GLOBAL_OPTIONS: dict[str, Any] = {
    "authentication": "internal_hashed",
    "c2s_require_encryption": False,
    "allow_unencrypted_plain_auth": True,
    "network_settings": {"nagle": False},
}

# Set by the harness from the layout; a profile setting one of them is a mistake.
HARNESS_OWNED_OPTIONS = frozenset(
    {
        "pidfile",
        "data_path",
        "certificates",
        "log",
        "run_as_root",
        "daemonize",
        "interfaces",
        "local_interfaces",
        "http_interfaces",
        "c2s_ports",
        "http_ports",
        "s2s_ports",
        "https_ports",
        "c2s_direct_tls_ports",
        "s2s_direct_tls_ports",
        "plugin_paths",
    }
)
PER_HOST_COMPUTED = frozenset({"modules_enabled", "modules_disabled"})


class ConfigError(ValueError):
    """A profile value cannot be expressed as Prosody configuration."""


@dataclass
class ServerLayout:
    """Where one server lives: its files, its ports and the addresses it binds.

    Paths are as the server sees them (inside the container for docker).
    """

    data_path: str
    pidfile: str
    certificates: str
    plugin_paths: list[str]
    c2s_port: int
    http_port: int
    log_file: str | None = None  # None: log to stdout (containers), same line format
    interfaces: list[str] = field(default_factory=lambda: ["127.0.0.1"])
    log_level: str = "debug"


def lua_string(text: str) -> str:
    """A double-quoted Lua string literal; non-ASCII text passes through as UTF-8."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif code < 32 or code == 127:
            # Three digits, so a following digit cannot extend the escape.
            out.append(f"\\{code:03d}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def lua_key(key: Any) -> str:
    """A table key: bare identifier when Lua allows it, otherwise the ["..."] / [n] form."""
    if isinstance(key, bool):
        raise ConfigError(f"table key {key!r}: booleans cannot be keys")
    if isinstance(key, int):
        return f"[{key}]"
    if not isinstance(key, str):
        raise ConfigError(f"table key {key!r}: keys must be strings or integers")
    if IDENTIFIER.match(key) and key not in LUA_KEYWORDS:
        return key
    return f"[{lua_string(key)}]"


def lua_value(value: Any, indent: int = 0) -> str:
    """Render a Python value as a Lua expression (None is refused: callers omit it)."""
    if value is None:
        raise ConfigError("None cannot appear inside a list (Lua arrays cannot hold nil)")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            raise ConfigError("NaN cannot be written as a Lua constant")
        if math.isinf(value):
            return "math.huge" if value > 0 else "-math.huge"
        return repr(value)
    if isinstance(value, str):
        return lua_string(value)
    if isinstance(value, Mapping):
        fields = [
            f"{lua_key(k)} = {lua_value(v, indent + 1)}" for k, v in value.items() if v is not None
        ]
        return _lua_table(fields, indent)
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return _lua_table([lua_value(v, indent + 1) for v in value], indent)
    raise ConfigError(f"cannot render {type(value).__name__} value {value!r} as Lua")


def _lua_table(items: list[str], indent: int) -> str:
    if not items:
        return "{}"
    one_line = "{ " + ", ".join(items) + " }"
    if len(one_line) <= 80 and "\n" not in one_line:
        return one_line
    inner = "\t" * (indent + 1)
    return "{\n" + "".join(f"{inner}{item};\n" for item in items) + "\t" * indent + "}"


def host_modules(enabled: Sequence[str], disabled: Sequence[str]) -> list[str]:
    """A virtual host's modules_enabled: the harness base plus the profile's, minus disabled."""
    wanted = [*HARNESS_HOST_MODULES, *enabled]
    seen: set[str] = set()
    result = []
    for name in wanted:
        if name not in seen and name not in disabled:
            seen.add(name)
            result.append(name)
    return result


def _global_assignment(name: str, value: Any) -> str:
    if IDENTIFIER.match(name) and name not in LUA_KEYWORDS:
        return f"{name} = {lua_value(value)}"
    # The config file runs with its options table as _ENV, so this sets the option too.
    return f"_ENV[{lua_string(name)}] = {lua_value(value)}"


def _block_body(options: Mapping[str, Any], where: str) -> str:
    for name in options:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: option name {name!r} must be a non-empty string")
    return lua_value({k: v for k, v in options.items() if v is not None})


def _check_not_owned(options: Mapping[str, Any], where: str) -> None:
    owned = sorted(set(options) & HARNESS_OWNED_OPTIONS)
    if owned:
        raise ConfigError(
            f"{where}: {', '.join(owned)} {'is' if len(owned) == 1 else 'are'} set by the "
            "harness (ports, paths and logging are chosen per run)"
        )


def http_enabled(profile: Profile) -> bool:
    """Whether some virtual host loads mod_http, i.e. Prosody's HTTP server will listen."""
    return any(
        "http" in host_modules(host.modules_enabled, host.modules_disabled)
        for host in profile.hosts.values()
    ) or any("http" in component.modules_enabled for component in profile.components.values())


def render_config(profile: Profile, layout: ServerLayout) -> str:
    """The whole prosody.cfg.lua text for `profile` laid out as `layout` says."""
    if not profile.hosts:
        raise ConfigError("the profile has no virtual host")
    _check_not_owned(profile.options, "global options")
    default_host = next(iter(profile.hosts))

    if layout.log_file is None:
        log: Any = [
            {
                "levels": {"min": layout.log_level},
                "to": "stdout",
                "timestamps": True,
                "source_width": False,  # tab-separated like the file sink, one parser
            }
        ]
    else:
        log = {layout.log_level: layout.log_file}
    harness_options: dict[str, Any] = {
        "pidfile": layout.pidfile,
        "data_path": layout.data_path,
        "certificates": layout.certificates,
        "log": log,
        "run_as_root": True,
        "plugin_paths": layout.plugin_paths,
        "interfaces": layout.interfaces,
        "local_interfaces": layout.interfaces,
        "http_interfaces": layout.interfaces,
        "c2s_ports": [layout.c2s_port],
        "http_ports": [layout.http_port],
        "s2s_ports": [],
        "https_ports": [],
        "c2s_direct_tls_ports": [],
        "s2s_direct_tls_ports": [],
    }
    global_options = {
        **harness_options,
        **DEFAULT_GLOBAL_OPTIONS,
        "http_default_host": default_host,
        **profile.options,
    }

    lines = ["-- Generated by prosody-harness for one test run; edits are lost.", ""]
    lines += [_global_assignment(k, v) for k, v in global_options.items() if v is not None]

    for name, host in profile.hosts.items():
        where = f"VirtualHost {name!r}"
        _check_not_owned(host.options, where)
        clash = sorted(set(host.options) & PER_HOST_COMPUTED)
        if clash:
            raise ConfigError(f"{where}: give {', '.join(clash)} as lists, not as options")
        options = {
            "modules_enabled": host_modules(host.modules_enabled, host.modules_disabled),
            "modules_disabled": list(host.modules_disabled) or None,
            **host.options,
        }
        lines += ["", f"VirtualHost {lua_string(name)} {_block_body(options, where)}"]

    for name, component in profile.components.items():
        where = f"Component {name!r}"
        _check_not_owned(component.options, where)
        clash = sorted(set(component.options) & PER_HOST_COMPUTED)
        if clash:
            raise ConfigError(f"{where}: give {', '.join(clash)} as lists, not as options")
        enabled = [m for m in component.modules_enabled if m not in component.modules_disabled]
        options = {
            "modules_enabled": enabled or None,
            "modules_disabled": list(component.modules_disabled) or None,
            **component.options,
        }
        head = f"Component {lua_string(name)}"
        if component.module:
            head += f" {lua_string(component.module)}"
        lines += ["", f"{head} {_block_body(options, where)}"]

    return "\n".join(lines) + "\n"
