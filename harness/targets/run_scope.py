"""The scope of one `prosody-harness run`: nothing outlives it, however it ends.

* Everything the run writes in temp folders (run directories, the sandbox's data, the
  test certificates) goes into one folder, `prosody-harness-run-*`, marked with the
  run's pid: `tempfile.tempdir` points there while the run lasts.
* A reaper process (harness/targets/reaper.py) removes that folder, and the containers the
  run started, once the run's process is gone: after a normal exit, Ctrl-C, SIGTERM or
  SIGKILL alike. Child processes die with the run already (PR_SET_PDEATHSIG, see
  prosody_process.py) and the mock backends are threads of it, so their ports close with
  it.
* SIGTERM is turned into the same orderly stop as Ctrl-C.

PROSODY_HARNESS_KEEP=1 (keep run directories for debugging) leaves all of this out.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.targets.prosody_process import KEEP_ENV, make_run_directory

REAPER = Path(__file__).with_name("reaper.py")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def start_reaper(root: Path) -> subprocess.Popen[bytes]:
    """The reaper of this process and `root`, holding the read end of a pipe whose write
    end only this process has."""
    return subprocess.Popen(
        [sys.executable, "-S", str(REAPER), str(os.getpid()), str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


@contextmanager
def run_scope() -> Iterator[Path | None]:
    """Enter a run's scope (see the module docstring); yields its temp folder."""
    if os.environ.get(KEEP_ENV) == "1":
        yield None
        return
    root = make_run_directory("prosody-harness-run-")  # also sweeps dead owners' folders
    reaper = start_reaper(root)
    previous = tempfile.tempdir
    tempfile.tempdir = str(root)
    main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        yield root
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
        tempfile.tempdir = previous
        shutil.rmtree(root, ignore_errors=True)
        # Closing the pipe hands over to the reaper, which looks once more when this
        # process has exited (atexit handlers still stop forgotten servers meanwhile).
        if reaper.stdin is not None:
            try:
                reaper.stdin.write(b"done\n")
                reaper.stdin.close()
            except OSError:
                pass
