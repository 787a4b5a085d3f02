"""The record of every protocol request a backend received, shared between the serving
threads, the test or scenario reading it and the CLI printing it live."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

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
