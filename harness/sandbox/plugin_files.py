"""Which of the files Prosody's pluginloader would try exist, without trying them all.

pluginloader looks for a module under six names in each plugin directory, opening each
candidate in turn: some twenty failed opens per module, every time a sandbox starts.
Here a directory's entries are listed once and remembered while the directory's mtime
stays the same, so only real candidates cost a stat.
"""

from __future__ import annotations

import os
import time

# A listing taken this soon after its directory changed is not remembered: an entry
# added within the same tick of the (coarse) filesystem clock would not change mtime.
RACY_WINDOW_NS = 2_000_000_000

_LISTINGS: dict[str, tuple[int, frozenset[str]]] = {}


def _entries(directory: str) -> frozenset[str]:
    try:
        mtime = os.stat(directory).st_mtime_ns
    except OSError:
        return frozenset()
    cached = _LISTINGS.get(directory)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    try:
        entries = frozenset(os.listdir(directory))
    except OSError:
        return frozenset()
    if time.time_ns() - mtime > RACY_WINDOW_NS:
        _LISTINGS[directory] = (mtime, entries)
    return entries


def existing(directories: list[str], names: list[str]) -> list[str]:
    """The files `directory + name` that exist, in pluginloader's order (each directory
    in turn, each name in turn)."""
    found = []
    for directory in directories:
        entries = _entries(directory)
        if not entries:
            continue
        for name in names:
            if name.split("/", 1)[0] in entries and os.path.isfile(directory + name):
                found.append(directory + name)
    return found
