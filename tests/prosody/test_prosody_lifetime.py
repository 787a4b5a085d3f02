"""No prosody outlives the Python process that started it, however that process ends."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.prosody,
    pytest.mark.skipif(shutil.which("prosody") is None, reason="prosody is not installed"),
]

# Starts a target (and a logged-in client), reports the server's pid and directory as one
# JSON line, then waits to be interrupted or killed.
OWNER = """
import json, sys, time
from harness.profile import Profile
from harness.targets.prosody import ProsodyTarget
target = ProsodyTarget(Profile())
target.start()
target.create_user("u", "localhost", "pw")
target.connect("u@localhost", "pw")
print(json.dumps({"pid": target.pid, "dir": str(target.directory)}), flush=True)
time.sleep(60)
"""


def process_exists(pid: int) -> bool:
    """True while the process runs (a zombie awaiting its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid: int, bound: float = 5.0) -> float:
    started = time.monotonic()
    while process_exists(pid):
        if time.monotonic() - started > bound:
            os.kill(pid, signal.SIGKILL)  # ours: do not leave it running for other tests
            pytest.fail(f"prosody {pid} still running {bound} s after its owner ended")
        time.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture
def owner():
    process = subprocess.Popen(
        [sys.executable, "-c", OWNER],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    if not line:
        process.kill()
        pytest.fail("the owner process did not start a server: " + process.stderr.read())
    info = json.loads(line)
    assert process_exists(info["pid"])
    yield process, info["pid"], Path(info["dir"])
    if process.poll() is None:
        process.kill()
    process.wait(5)
    process.stdout.close()
    process.stderr.close()
    shutil.rmtree(info["dir"], ignore_errors=True)


def test_sigkill_of_the_owner_kills_prosody(owner):
    process, pid, directory = owner
    assert directory.exists()
    process.send_signal(signal.SIGKILL)
    process.wait(5)
    assert wait_gone(pid, bound=2.0) < 2.0
    # The dead owner could not remove its temp dir; the next start (here or in any other
    # process using the harness) sweeps it.
    from harness.profile import Profile
    from harness.targets.prosody import ProsodyTarget

    with ProsodyTarget(Profile()):
        assert not directory.exists()


def test_sigterm_of_the_owner_kills_prosody(owner):
    process, pid, _ = owner
    process.send_signal(signal.SIGTERM)
    process.wait(5)
    wait_gone(pid, bound=2.0)


def test_ctrl_c_of_the_owner_stops_prosody_cleanly(owner):
    process, pid, directory = owner
    process.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C delivers
    process.wait(10)
    wait_gone(pid, bound=2.0)
    assert not directory.exists()  # stopped in order: the temp dir is removed too
    stderr = process.stderr.read()
    assert "KeyboardInterrupt" in stderr
    assert "Task was destroyed" not in stderr and "Exception ignored" not in stderr


def test_prosody_does_not_get_the_terminals_ctrl_c(owner):
    # Ctrl-C goes to the terminal's whole foreground process group; prosody runs in a
    # session of its own, so only Python sees it and stops the server in order.
    process, pid, _ = owner
    assert os.getpgid(pid) != os.getpgid(process.pid)


def test_a_server_started_from_a_finished_thread_keeps_running():
    # PR_SET_PDEATHSIG follows the forking thread; the runner starts servers from worker
    # threads that end before the servers are stopped.
    from harness.profile import Profile
    from harness.targets.prosody import ProsodyTarget

    target = ProsodyTarget(Profile())
    worker = threading.Thread(target=target.start)
    worker.start()
    worker.join(10)
    try:
        time.sleep(0.2)
        assert process_exists(target.pid)
        assert target.http("GET", "/").status == 200
    finally:
        target.stop()
