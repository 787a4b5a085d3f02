"""Values across the Python/Lua boundary (the runtime uses bytes for Lua strings)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.sandbox.lua_runtime import lupa


def text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def to_lua(runtime, value: Any) -> Any:
    """Python data to Lua: str -> string, list -> array table, dict -> table."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, Mapping):
        table = runtime.table()
        for key, item in value.items():
            if item is not None:
                table[to_lua(runtime, key)] = to_lua(runtime, item)
        return table
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        table = runtime.table()
        for index, item in enumerate(value, 1):
            table[index] = to_lua(runtime, item)
        return table
    return value


def from_lua(value: Any, _depth: int = 0) -> Any:
    """Lua data to Python: a table with keys 1..n becomes a list, other tables dicts,
    strings become str when they are UTF-8; functions and userdata are returned as is,
    and so are tables nested deeper than 16 levels (Prosody's objects are cyclic)."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    if lupa.lua_type(value) == "table" and _depth < 16:
        items = {from_lua(k, _depth + 1): from_lua(v, _depth + 1) for k, v in value.items()}
        if (
            items
            and all(isinstance(k, int) for k in items)
            and sorted(items) == list(range(1, len(items) + 1))
        ):
            return [items[i] for i in range(1, len(items) + 1)]
        return items
    return value
