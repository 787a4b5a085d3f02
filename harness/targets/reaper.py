"""The reaper of one run: a small process that outlives `prosody-harness run` just long
enough to remove what the run left, however the run ended (SIGKILL included).

Started by harness.targets.run_scope as `python reaper.py OWNER_PID ROOT`, with a pipe on
its stdin that only the owner holds. The kernel closes that pipe when the owner exits or
is killed; the reaper then waits for the owner to be gone, removes the containers the
owner started (labelled with its pid, as the docker target labels them) and the run's
temp folder ROOT, and exits. A run that ends in order writes "done" first, and the reaper
then only looks for a moment. Its own session keeps a terminal's Ctrl-C away from it.

Standard library only, run as a script: nothing of the harness is imported, so it starts
in milliseconds and cannot be broken by the state of the run it cleans up after.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

OWNER_PID_LABEL = "prosody-harness.owner-pid"  # as harness.targets.docker labels them
OWNER_HOST_LABEL = "prosody-harness.owner-host"
CONTAINERS_CONF = Path(__file__).resolve().parents[1] / "containers" / "containers.conf"
OWNER_EXIT_SECONDS = 60.0  # an owner whose pipe closed is dying: it takes this at most
FINISHED_SECONDS = 2.0  # an owner that said "done" may live on (a test session, say)
ENGINE_SECONDS = 60.0


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False


def wait_for_owner(owner: int, bound: float) -> None:
    deadline = time.monotonic() + bound
    while alive(owner) and time.monotonic() < deadline:
        time.sleep(0.05)


def used_containers(root: Path) -> bool:
    return any(root.glob("prosody-harness-docker-*")) or any(root.glob("prosody-harness-podman-*"))


def remove_containers(owner: int) -> None:
    """The owner's containers, through the engine's command line (its API service, if the
    harness started one, died with the owner)."""
    labels = [
        f"label={OWNER_PID_LABEL}={owner}",
        f"label={OWNER_HOST_LABEL}={socket.gethostname()}",
    ]
    for tool in ("podman", "docker"):
        if not shutil.which(tool):
            continue
        env = dict(os.environ)
        if tool == "podman":
            env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
        try:
            listed = subprocess.run(
                [tool, "ps", "-a", "-q", *[arg for label in labels for arg in ("--filter", label)]],
                capture_output=True,
                text=True,
                timeout=ENGINE_SECONDS,
                env=env,
            )
            ids = listed.stdout.split()
            if ids:
                subprocess.run(
                    [tool, "rm", "-f", *ids], capture_output=True, timeout=ENGINE_SECONDS, env=env
                )
        except (OSError, subprocess.TimeoutExpired):
            continue
        return


def remove_folder(root: Path) -> None:
    """Twice over: a child of the owner that was still dying may write one more file."""
    for _ in range(5):
        shutil.rmtree(root, ignore_errors=True)
        if not root.exists():
            return
        time.sleep(0.2)


def main(argv: list[str]) -> int:
    owner, root = int(argv[0]), Path(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    said = b""
    try:
        while chunk := sys.stdin.buffer.read(4096):
            said += chunk  # "done" when the run ended in order; the end is the signal
    except OSError:
        pass
    # A run that ended in order (maybe inside a longer process, such as a test session)
    # has cleaned up itself: a short look suffices. Otherwise the owner is dying.
    wait_for_owner(owner, FINISHED_SECONDS if b"done" in said else OWNER_EXIT_SECONDS)
    time.sleep(0.1)  # the owner's tied children get their SIGKILL from the kernel meanwhile
    if root.is_dir() and used_containers(root):
        remove_containers(owner)
    remove_folder(root)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
