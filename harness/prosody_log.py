"""Parse Prosody's log text into LogLines, incrementally.

The file and stdout sinks the harness configures both write
`Mon DD HH:MM:SS source<TAB>level<TAB>message`. A message can span lines (a Lua
traceback, a pretty-printed stanza): lines that do not start a new entry are continuation
lines and stay attached to the entry before them.
"""

from __future__ import annotations

import re

from harness.target import LEVELS, LogLine

ENTRY = re.compile(
    r"^(?P<time>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (?P<source>[^\t]*)\t"
    r"(?P<level>" + "|".join(LEVELS) + r")\t(?P<message>.*)$"
)


class LogReader:
    """Feed it text as it grows; it keeps the parsed lines, whole lines only."""

    def __init__(self) -> None:
        self.lines: list[LogLine] = []
        self._partial = ""  # text after the last newline, completed by the next feed

    def feed(self, text: str) -> None:
        text = self._partial + text
        if "\n" not in text:
            self._partial = text
            return
        complete, _, self._partial = text.rpartition("\n")
        for raw in complete.split("\n"):
            self._add(raw)

    def _add(self, raw: str) -> None:
        entry = ENTRY.match(raw)
        if entry:
            self.lines.append(
                LogLine(
                    level=entry["level"],
                    source=entry["source"].strip(),
                    message=entry["message"],
                    raw=raw,
                )
            )
        elif self.lines:
            last = self.lines[-1]
            last.message += "\n" + raw
            last.raw += "\n" + raw
        elif raw.strip():
            # Text before the first entry (e.g. Lua's own startup complaint on stdout).
            self.lines.append(LogLine(level="error", source="prosody", message=raw, raw=raw))


WELCOME = re.compile(r"^Hello and welcome to Prosody version (\S+)")


def welcome_version(lines: list[LogLine]) -> str | None:
    """The version a Prosody names in its first log lines ("0.12.3"), if it did."""
    for line in lines[:50]:
        found = WELCOME.match(line.message)
        if found:
            return found.group(1)
    return None


def parse_log(text: str) -> list[LogLine]:
    reader = LogReader()
    reader.feed(text if text.endswith("\n") else text + "\n")
    return reader.lines


def tail(lines: list[LogLine], count: int = 20, min_level: str = "info") -> str:
    """The last `count` entries at `min_level` or above as text, for error messages."""
    floor = LEVELS.index(min_level)
    kept = [line for line in lines if LEVELS.index(line.level) >= floor or line.is_error]
    return "\n".join(line.raw or line.message for line in kept[-count:])
