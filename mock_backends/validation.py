"""Checks for configuration and control-API input; every failure is a ValueError whose
message names the offending key, so a scenario author or curl user sees what to fix."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def expect_mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a mapping, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise ValueError(f"{where}: keys must be strings, got {key!r}")
    return dict(value)


def check_keys(mapping: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    allowed_set = set(allowed)
    unknown = sorted(set(mapping) - allowed_set)
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed_set))}"
        )


def expect_str(value: Any, where: str, *, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string, got {type(value).__name__}")
    if not allow_empty and not value:
        raise ValueError(f"{where}: must not be empty")
    return value


def expect_optional_str(value: Any, where: str) -> str | None:
    return None if value is None else expect_str(value, where)


def expect_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where}: expected true or false, got {value!r}")
    return value


def expect_seconds(value: Any, where: str, maximum: float = 3600.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: expected a number of seconds, got {value!r}")
    if not 0 <= value <= maximum:
        raise ValueError(f"{where}: must be between 0 and {maximum:g} seconds, got {value}")
    return float(value)


def expect_status(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise ValueError(f"{where}: expected an HTTP status code (100-599), got {value!r}")
    return value


def expect_str_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"{where}: expected a list of strings, got {type(value).__name__}")
    return [expect_str(item, f"{where}[{index}]") for index, item in enumerate(value)]
