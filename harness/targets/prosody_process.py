"""Child processes and run directories that never outlive the Python process.

The kernel kills a child marked with PR_SET_PDEATHSIG when the *thread* that forked it
ends, so every child is forked by one spawner thread that lives as long as the process:
callers may start servers from short-lived worker threads. Run directories carry their
owner's pid, so directories of an owner killed with SIGKILL are swept by the next start.
"""

from __future__ import annotations

import ctypes
import functools
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

KEEP_ENV = "PROSODY_HARNESS_KEEP"  # =1 keeps run directories after stop, for debugging
SPAWN_TIMEOUT_SECONDS = 30

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl


def _die_with_parent(parent_pid: int) -> None:
    """preexec_fn: SIGKILL this child when the thread that spawned it dies."""
    _prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


class _Spawner:
    """The one long-lived thread that forks every prosody (see the module docstring)."""

    def __init__(self) -> None:
        self._requests: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def run(self, work: Callable[[], T]) -> T:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="prosody-spawner", daemon=True
                )
                self._thread.start()
        done: Future[T] = Future()
        self._requests.put((work, done))
        return done.result(SPAWN_TIMEOUT_SECONDS)

    def _serve(self) -> None:
        while True:
            work, done = self._requests.get()
            try:
                done.set_result(work())
            except BaseException as exc:  # handed to the caller's thread
                done.set_exception(exc)


_spawner = _Spawner()


def spawn_tied_child(command: list[str], **popen_options: Any) -> subprocess.Popen[bytes]:
    """Popen(command) forked by the spawner thread, SIGKILLed if this process dies."""
    return _spawner.run(
        functools.partial(
            subprocess.Popen,
            command,
            preexec_fn=functools.partial(_die_with_parent, os.getpid()),
            **popen_options,
        )
    )


OWNER_FILE = "owner.pid"  # in each temp dir: the pid of the Python process using it


def make_run_directory(prefix: str) -> Path:
    """A fresh temp dir marked with its owner, after sweeping dirs of owners that died."""
    sweep_orphaned_directories()
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    (directory / OWNER_FILE).write_text(str(os.getpid()))
    return directory


def sweep_orphaned_directories() -> None:
    """Remove run dirs whose owner was killed before it could clean up (SIGKILL)."""
    for marker in Path(tempfile.gettempdir()).glob(f"prosody-harness-*/{OWNER_FILE}"):
        try:
            owner = int(marker.read_text())
        except (OSError, ValueError):
            continue
        if not pid_alive(owner):
            shutil.rmtree(marker.parent, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def release_run_directory(directory: Path) -> None:
    """Remove a run dir, or with PROSODY_HARNESS_KEEP=1 keep it (and out of any sweep)."""
    if os.environ.get(KEEP_ENV) == "1":
        (directory / OWNER_FILE).unlink(missing_ok=True)
    else:
        shutil.rmtree(directory, ignore_errors=True)
