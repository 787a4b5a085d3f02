"""`prosody-harness run` killed at random moments (Ctrl-C, SIGTERM, SIGKILL), many times:
afterwards no process, container, listening port or temp folder of the run is left.

Each run is watched through /proc while it goes (harness.targets.run_scope puts its temp
folders under one folder marked with its pid; process_tree.py records its processes and
ports), then interrupted after a random delay from a fixed seed, and what it held is
checked after a bound. PROSODY_HARNESS_INTERRUPTS sets how many runs (default 6 inside
`make test`; `make fuzz` runs 60)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from process_tree import Holdings
from reliability_settings import SEED

pytestmark = [pytest.mark.interrupts, pytest.mark.prosody, pytest.mark.timeout(3600)]

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = [
    "scenarios/core",
    "scenarios/muc_http_auth/https_untrusted_certificate_refuses.yaml",
    "scenarios/http_roster_admin/https_login_fetch_verified.yaml",
    "scenarios/admin_rest/message_delivered.yaml",
]
STOP_BOUND = 60.0  # after Ctrl-C or SIGTERM the run must have exited within this
CLEAN_BOUND = 20.0  # ...and everything it held be gone within this after it exited
HOW = ("ctrl-c", "sigterm", "sigkill")
CONTAINERS_CONF = REPO / "harness" / "containers" / "containers.conf"


def plan() -> list[tuple[str, str, float]]:
    """(target, how, when as a fraction of a whole run's duration) for each run."""
    count = int(os.environ.get("PROSODY_HARNESS_INTERRUPTS", "6"))
    generator = random.Random(SEED)
    targets = ["prosody", "prosody", "sandbox"]
    if count >= 20 and shutil.which("podman") and os.geteuid() == 0:
        targets.append("docker")
    runs = []
    for index in range(count):
        target = targets[index % len(targets)]
        how = HOW[(index // len(targets)) % len(HOW)]
        runs.append((target, how, round(generator.uniform(0.02, 0.98), 2)))
    return runs


@pytest.fixture(scope="module")
def durations(tmp_path_factory) -> dict[str, float]:
    """How long a whole run takes here, per target (measured once, uninterrupted: it
    must leave nothing behind either)."""
    measured: dict[str, float] = {}

    def measure(target: str) -> float:
        if target not in measured:
            output = tmp_path_factory.mktemp("whole") / "output.txt"
            started = time.monotonic()
            left = interrupt(target, "none", float("inf"), output)
            assert not left, f"a whole {target} run left:\n" + "\n".join(left)
            measured[target] = time.monotonic() - started
        return measured[target]

    return measure


def containers_of(owner: int) -> list[str]:
    if not shutil.which("podman"):
        return []
    listed = subprocess.run(
        ["podman", "ps", "-a", "-q", "--filter", f"label=prosody-harness.owner-pid={owner}"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)},
    )
    return listed.stdout.split()


def interrupt(target: str, how: str, delay: float, output: Path) -> list[str]:
    """Run, interrupt after `delay` s, and list what was left behind. The run gets a
    TMPDIR of its own, so any temp file or folder it leaves, whatever its name, shows."""
    private_tmp = output.parent / "tmp"
    private_tmp.mkdir()
    with open(output, "wb") as sink:
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "run",
                *SCENARIOS,
                "--target",
                target,
                "-j",
                "2",
                "--no-colour",
            ],
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "TMPDIR": str(private_tmp)},
            start_new_session=True,
        )  # its own process group, as a terminal job has
    holdings = Holdings()
    started = time.monotonic()
    while time.monotonic() - started < delay and run.poll() is None:
        holdings.watch(run.pid)
        time.sleep(0.02)
    problems = []
    if how == "none":
        run.wait(600)
    elif run.poll() is None:
        if how == "ctrl-c":
            os.killpg(run.pid, signal.SIGINT)  # what a terminal sends its foreground job
        else:
            run.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
        stopping = time.monotonic()
        while run.poll() is None and time.monotonic() - stopping < STOP_BOUND:
            holdings.watch(run.pid)
            time.sleep(0.05)
        if run.poll() is None:
            problems.append(f"still running {STOP_BOUND:g} s after {how}")
            run.kill()
    run.wait(10)
    deadline = time.monotonic() + CLEAN_BOUND
    while True:
        left = holdings.left_behind(run.pid)
        left += [f"temp entry {entry}" for entry in private_tmp.iterdir()]
        if target == "docker":
            left += [f"container {cid}" for cid in containers_of(run.pid)]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    said = output.read_text("utf-8", "replace").rstrip()
    # Ctrl-C while Python still imports ends in its own KeyboardInterrupt traceback: the
    # run had started nothing yet (no header). Any other traceback on the way out, a
    # worker's included, is a failure.
    importing = "scenario(s) on" not in said and said.endswith("KeyboardInterrupt")
    if how != "sigkill" and "Traceback" in said and not importing:
        problems.append("a traceback on the way out:\n" + said[said.index("Traceback") :][:1500])
    return problems + left


@pytest.mark.parametrize(
    "target, how, fraction",
    plan(),
    ids=[f"{i}-{t}-{h}-at-{f}" for i, (t, h, f) in enumerate(plan())],
)
def test_an_interrupted_run_leaves_nothing_behind(target, how, fraction, durations, tmp_path):
    delay = round(fraction * durations(target), 2)
    left = interrupt(target, how, delay, tmp_path / "output.txt")
    assert not left, f"{target} run, {how} after {delay} s, left:\n" + "\n".join(left)
