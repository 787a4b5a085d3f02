"""An ordered list of request rules (faults, canned answers) where the first that matches
a request applies, each usable a limited number of times if it says so."""

from __future__ import annotations

import re
import threading
from typing import Any, Generic, Protocol, TypeVar


def path_matches(pattern: str, path: str) -> bool:
    """`*` matches any run of characters (including `/`); everything else is literal."""
    regex = "".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", pattern))
    return re.match(regex + r"\Z", path) is not None


class RequestRule(Protocol):
    times: int | None  # uses before it is gone; None: until cleared

    def matches(self, method: str, path: str) -> bool: ...

    def to_dict(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=RequestRule)


class FirstMatchList(Generic[R]):
    def __init__(self) -> None:
        self._rules: list[list[Any]] = []  # [rule, remaining uses or None]
        self._lock = threading.Lock()

    def add(self, rule: R) -> None:
        with self._lock:
            self._rules.append([rule, rule.times])

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                dict(rule.to_dict(), remaining=left) if left is not None else rule.to_dict()
                for rule, left in self._rules
            ]

    def take(self, method: str, path: str) -> R | None:
        """The first rule matching the request, counting one use of it."""
        with self._lock:
            for slot in self._rules:
                rule, left = slot
                if rule.matches(method, path):
                    if left is not None:
                        slot[1] = left - 1
                        if slot[1] == 0:
                            self._rules.remove(slot)
                    return rule
        return None
