"""Each sandbox's data directory (Prosody's data_path), handed on when left empty.

Most sandboxes keep their data in memory and never write to the directory; making and
removing one costs more than a quarter of a millisecond on an ext4 disk, a few percent
of a sandbox's whole life. A directory a sandbox left empty is given to the next one
instead. When the process exits, the ones left over go, and so do those of sandboxes
never stopped (a script that forgot to).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading

PREFIX = "prosody-sandbox-"
KEEP_AT_MOST = 8

_lock = threading.Lock()
_empty: list[str] = []
_in_use: set[str] = set()  # handed out, not given back yet (for remove_all)


def take() -> str:
    """An empty directory of the sandbox's own."""
    while True:
        with _lock:
            path = _empty.pop() if _empty else None
        if path is None:
            path = tempfile.mkdtemp(prefix=PREFIX)
        elif not os.path.isdir(path):  # removed behind our back (a /tmp cleaner, say)
            continue
        with _lock:
            _in_use.add(path)
        return path


def give_back(path: str) -> None:
    """The sandbox is done with `path`: kept for another if it is still empty, else
    removed with what is in it."""
    with _lock:
        _in_use.discard(path)
    try:
        empty = not os.listdir(path)
    except OSError:
        return  # gone already
    if empty:
        with _lock:
            if len(_empty) < KEEP_AT_MOST:
                _empty.append(path)
                return
    shutil.rmtree(path, ignore_errors=True)


def _forget_after_fork() -> None:
    """A forked worker (harness.runner.processes) makes its own: those kept here are the
    parent's, which would hand them on again and remove them at its exit."""
    global _lock
    _lock = threading.Lock()
    _empty.clear()
    _in_use.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def remove_left_over() -> None:
    """Remove the directories kept for sandboxes to come (at exit)."""
    with _lock:
        left, _empty[:] = list(_empty), []
    for path in left:
        shutil.rmtree(path, ignore_errors=True)


@atexit.register
def remove_all() -> None:
    """Remove every directory of this process', kept or still in use: for a process that
    ends without stopping its sandboxes (a worker, harness.runner.processes, calls it
    itself; it ends with os._exit), and at any other process' exit."""
    remove_left_over()
    with _lock:
        used = list(_in_use)
        _in_use.clear()
    for path in used:
        shutil.rmtree(path, ignore_errors=True)
