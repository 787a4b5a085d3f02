"""The record of every protocol request a backend received, shared between the serving
threads, the test or scenario reading it and the CLI printing it live."""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

JournalEntry = dict[str, Any]
Listener = Callable[[JournalEntry], None]

log = logging.getLogger("mock_backends.journal")

#: Oldest entries are forgotten beyond this many, so a long benchmark cannot exhaust memory.
DEFAULT_MAX_ENTRIES = 10_000


class Journal:
    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._entries: deque[JournalEntry] = deque(maxlen=max_entries)
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def record(self, entry: JournalEntry) -> None:
        with self._lock:
            self._entries.append(entry)
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(entry)
            except Exception:
                # A broken listener (say, a closed stdout) must not fail the request.
                log.exception("journal listener failed")

    def entries(self) -> list[JournalEntry]:
        """A snapshot; entries are copied so callers cannot change the record."""
        with self._lock:
            return [dict(entry) for entry in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(entry)` after each new entry (from the serving thread)."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.remove(listener)


def query_dict(query_string: str) -> dict[str, str | list[str]]:
    """A request's query as journaled: a value, or a list of them when repeated."""
    parsed = parse_qs(query_string, keep_blank_values=True)
    return {key: values[0] if len(values) == 1 else values for key, values in parsed.items()}


def headers_dict(environ: Mapping[str, Any]) -> dict[str, str]:
    """A WSGI request's headers as journaled, names in Title-Case."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").title()] = value
    if "CONTENT_TYPE" in environ:
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH") not in (None, "", "0"):
        headers["Content-Length"] = environ["CONTENT_LENGTH"]
    return headers


def parse_json_body(body: str) -> Any:
    """The body as JSON, or None when it is empty or not JSON."""
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        return None
