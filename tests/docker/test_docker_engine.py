"""The docker target on a real engine (Docker, or the podman API service the harness
starts): images, containers, networking, accounts, and nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from harness.containers.engine import EngineUnavailable, engine
from harness.containers.image import ensure_image, image_name
from harness.profile import Profile
from harness.runner import Runner, RunOptions, load_all
from harness.targets.docker import LABEL, OWNER_HOST_LABEL, OWNER_PID_LABEL, DockerTarget

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client():
    try:
        return engine().client
    except EngineUnavailable as exc:
        pytest.skip(f"no container engine here: {exc}")


def harness_processes(marker: str) -> list[str]:
    """Command lines of running processes that mention `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def owned_by(client, pid: int) -> list:
    return [
        c
        for c in client.containers.list(all=True, sparse=True, filters={"label": LABEL})
        if (c.attrs.get("Labels") or {}).get(OWNER_PID_LABEL) == str(pid)
    ]


def test_accounts_clients_http_and_a_clean_log_in_a_real_container(client):
    server = DockerTarget(Profile())
    server.start()
    try:
        assert server.version.startswith("0.12.")
        container = client.containers.get(server.container_id)
        assert container.image.tags[0].endswith(image_name("0.12"))
        took = []
        for name in ("ann", "bob"):
            started = time.perf_counter()
            server.create_user(name, "localhost", "pw")
            took.append(time.perf_counter() - started)
        assert max(took) < 0.05, f"accounts are written, not exec'd: {took}"
        ann = server.connect("ann@localhost", "pw")
        bob = server.connect("bob@localhost", "pw")
        ann.send(f'<message to="{bob.jid}" id="m1"><body>through the container</body></message>')
        got = bob.receive(lambda e: e.get("id") == "m1")
        assert got.findtext("{jabber:client}body") == "through the container"
        assert server.http("GET", "/").status == 200
        assert server.error_lines() == []  # no dependency banner, no error
    finally:
        run_dir = server.directory
        server.stop()
    assert owned_by(client, os.getpid()) == []
    assert run_dir is not None and not run_dir.exists()


def test_the_13_image_runs_prosody_13_with_accounts_as_13_writes_them(client):
    with DockerTarget(Profile(), prosody="13") as server:
        assert server.version.startswith("13.")
        server.create_user("ann", "localhost", "pw")
        account = (server.directory / "data" / "localhost" / "accounts" / "ann.dat").read_text()
        assert "created" in account and "updated" in account
        server.connect("ann@localhost", "pw").disconnect()
        assert server.error_lines() == []


def test_bridge_networking_reaches_backends_on_the_gateway_address(client):
    # The roster web app and the MUC auth service answer from the host; Prosody calls
    # them from inside the container, through the bridge.
    files = [
        str(REPO / "scenarios/http_roster_admin/login_fetch.yaml"),
        str(REPO / "scenarios/muc_http_auth/allowed_true_admits.yaml"),
        str(REPO / "scenarios/muc_http_auth/refused_when_service_down.yaml"),
    ]
    report = Runner(RunOptions(["docker"], docker_network="bridge")).run(load_all(files))
    assert [r.status for r in report.results] == ["passed"] * 3, [r.message for r in report.results]


def test_a_second_image_build_costs_nothing(client):
    first = ensure_image(client, "0.12")
    started = time.monotonic()
    again = ensure_image(client, "0.12")
    assert time.monotonic() - started < 2
    assert again.id == first.id


def test_parallel_starts_among_leftovers_do_not_race(client):
    dead = subprocess.Popen(["true"])
    dead.wait()
    labels = {LABEL: "1", OWNER_HOST_LABEL: os.uname().nodename, OWNER_PID_LABEL: str(dead.pid)}
    for _ in range(3):
        client.containers.run(
            image_name("0.12"),
            command=["prosody", "-F"],
            detach=True,
            labels=labels,
            network_mode="none",
        )
    servers = [DockerTarget(Profile()) for _ in range(4)]
    errors: list[BaseException] = []

    def start(server: DockerTarget) -> None:
        try:
            server.start()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for server in servers:
        server.stop()
    assert errors == []
    assert owned_by(client, dead.pid) == []


KILLED_RUNNER = textwrap.dedent("""\
    import sys, time
    from harness.containers import engine as engine_module
    from harness.profile import Profile
    from harness.targets.docker import DockerTarget
    server = DockerTarget(Profile())
    server.start()
    print(server.container_id, engine_module._service_dir or "-", flush=True)
    time.sleep(60)
""")


def test_after_a_sigkill_of_the_runner_the_next_start_removes_what_it_left(client):
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUNNER], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        container_id, service_dir = child.stdout.readline().split()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    if service_dir != "-":  # its own podman API service died with it (a tied child)
        deadline = time.monotonic() + 5
        while harness_processes(service_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert harness_processes(service_dir) == []
    assert [c.id for c in owned_by(client, child.pid)] == [container_id]
    with DockerTarget(Profile()):
        assert owned_by(client, child.pid) == []


def test_a_run_leaves_no_container_api_service_or_run_directory(client, tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            "scenarios/core",
            "--target",
            "docker",
            "--json",
            str(tmp_path / "report.json"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout
    report = (tmp_path / "report.json").read_text()
    assert image_name("0.12") in report
    # The run is over: whatever it made must be gone with it.
    assert leftover_run_directories() == []
    assert leaked_api_services() == []
    for container in client.containers.list(all=True, sparse=True, filters={"label": LABEL}):
        owner = (container.attrs.get("Labels") or {}).get(OWNER_PID_LABEL, "")
        assert Path(f"/proc/{owner}").exists(), f"container {container.id[:12]} outlived {owner}"


def leftover_run_directories() -> list[Path]:
    """Run directories whose owner process is gone."""
    left = []
    for marker in Path("/tmp").glob("prosody-harness-*/owner.pid"):
        owner = marker.read_text().strip()
        if not Path(f"/proc/{owner}").exists():
            left.append(marker.parent)
    return left


def leaked_api_services() -> list[str]:
    """podman API services started by the harness whose run directory is gone."""
    leaked = []
    for line in harness_processes("podman system service"):
        socket = next((w for w in line.split() if "prosody-harness-podman-" in w), None)
        if socket and not Path(socket.removeprefix("unix://")).parent.exists():
            leaked.append(line)
    return leaked
