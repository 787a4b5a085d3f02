"""Python values as Lua source: the literals of a generated Prosody config file.

str, int, float, bool, list, tuple and dict (nested) become Lua strings, numbers,
booleans and tables; None is refused (callers leave unset options out). Shared by the
one translation of a profile (harness.prosody_config) and a suite's own config files
(harness.lua_config)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

LUA_KEYWORDS = frozenset(
    "and break do else elseif end false for function goto if in local nil not or repeat "
    "return then true until while".split()
)
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(ValueError):
    """A profile value cannot be expressed as Prosody configuration."""


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


def global_assignment(name: str, value: Any) -> str:
    if IDENTIFIER.match(name) and name not in LUA_KEYWORDS:
        return f"{name} = {lua_value(value)}"
    # The config file runs with its options table as _ENV, so this sets the option too.
    return f"_ENV[{lua_string(name)}] = {lua_value(value)}"
