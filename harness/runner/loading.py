"""Loading a suite's files: from the load cache, else in two processes when it is worth it.

Reading, parsing and checking the 280 files of this project's suite takes most of a
second, all of it Python, before any scenario runs. What a file gave last time is taken
from the load cache while nothing it came from has changed (load_cache.py). Of the files
left to load, with a second CPU, a forked child loads the second half while this process
loads the first; the child sends back what it loaded (pickled) and the halves are joined
in the files' order. Whatever the child does not deliver (it died, it sent something
unreadable, it took too long) this process loads itself, so the outcome is always the
one loading alone gives, errors included.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import threading
import time

from harness.runner.load_cache import Outcome, load_with_cache
from harness.scenario import ScenarioError, load_scenarios

FORK_FROM = 40  # files; fewer are loaded here alone (a fork costs a few milliseconds)
CHILD_BOUND = 120.0  # seconds to wait for the child's half before loading it here


def load_files(files: list[str], processes: int = 1) -> list[Outcome]:
    """Each file's scenarios (or its ScenarioError), in the order of `files`: from the
    load cache (load_cache.py) where it still holds, the others loaded now; with
    `processes` >= 2, enough of them and a second CPU, half of those in a child."""
    return load_with_cache(files, lambda missing: _load_files(missing, processes))


def _load_files(files: list[str], processes: int) -> list[Outcome]:
    single = threading.active_count() == 1  # a fork copies only the calling thread
    if processes < 2 or len(files) < FORK_FROM or (os.cpu_count() or 1) < 2 or not single:
        return [_load(file) for file in files]
    half = len(files) // 2
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: load the second half, send it, and go
        os.close(read_end)
        _send_and_exit(files[half:], write_end)
    os.close(write_end)
    first = [_load(file) for file in files[:half]]
    second = _receive(read_end, pid, len(files) - half)
    if second is None:
        second = [_load(file) for file in files[half:]]
    return first + second


def _load(file: str) -> Outcome:
    try:
        return file, load_scenarios(file)
    except ScenarioError as exc:
        return file, exc


def _send_and_exit(files: list[str], write_end: int) -> None:
    code = 1
    try:
        outcomes = [_load(file) for file in files]
        data = pickle.dumps(outcomes, protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write_end, "wb") as out:
            out.write(data)
        code = 0
    except BaseException:  # noqa: BLE001 - the parent loads these files itself, and reports
        pass
    finally:
        os._exit(code)  # never the parent's exit handlers


def _receive(read_end: int, pid: int, expected: int) -> list[Outcome] | None:
    """The child's half, or None when it did not deliver all of it in time."""
    chunks = []
    deadline = time.monotonic() + CHILD_BOUND
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_end], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                return None
            chunk = os.read(read_end, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    try:
        outcomes = pickle.loads(b"".join(chunks))
    except Exception:  # noqa: BLE001 - a child that died mid-way: load its half here
        return None
    return outcomes if len(outcomes) == expected else None
