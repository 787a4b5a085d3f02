"""A shared server's backend ports stay its own between scenarios (harness.ports.HeldPorts).

The mocks of a shared server stop after each scenario and start again on the same ports;
while stopped, nothing else may take those ports, or the next scenario's backend cannot
listen ("Address already in use")."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from harness.ports import HeldPorts
from harness.runner.pool import ServerPool
from harness.scenario import load_scenario
from harness.targets import TargetSpec
from mock_backends import start_backend

REPO = Path(__file__).resolve().parents[2]


def _bind_plainly(port: int) -> None:
    """Bind the way any other program would (an outgoing connection's automatic pick
    is kept off the same way: the kernel skips ports bound like this hold's)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def _contacts(backend, user: str) -> dict:
    with urllib.request.urlopen(f"{backend.url}/contacts/{user}", timeout=5) as answer:
        return json.load(answer)


def test_a_held_port_is_refused_to_others_yet_its_backends_start_on_it_again_and_again():
    held = HeldPorts(["web"])
    port = held.ports["web"]
    try:
        with pytest.raises(OSError) as refused:
            _bind_plainly(port)
        assert refused.value.errno == errno.EADDRINUSE
        for round_ in range(3):  # a scenario's backend after another's, each fresh
            backend = start_backend("roster", {"rosters": {"john": {}}}, port=port)
            try:
                assert backend.port == port
                assert _contacts(backend, "john") == {}, f"round {round_}"
            finally:
                backend.stop()
            with pytest.raises(OSError):
                _bind_plainly(port)  # still held between two scenarios
    finally:
        held.release()


def test_a_released_port_is_anyone_s_again():
    held = HeldPorts(["a", "b"])
    assert len(set(held.ports.values())) == 2
    held.release()
    for port in held.ports.values():
        _bind_plainly(port)


def test_a_shared_server_holds_its_backend_ports_from_start_to_close(fake_target, scenario_file):
    path = scenario_file(
        "shared.yaml",
        """\
        name: shared
        prosody:
          options: {http_roster_url: "${web.url}/contacts/%s"}
        backends:
          web: {kind: roster}
          auth: {kind: muc_auth}
        clients:
          john: {jid: john@localhost, password: pw}
        steps:
          - john connects
        """,
    )
    pool = ServerPool(TargetSpec("fake"))
    lease = pool.acquire(load_scenario(path))
    ports = lease.server.backend_ports
    assert sorted(ports) == ["auth", "web"]
    pool.release(lease)
    for port in ports.values():  # idle between scenarios: held
        with pytest.raises(OSError):
            _bind_plainly(port)
    pool.close()
    for port in ports.values():
        _bind_plainly(port)


# Run in a network namespace of its own (root only), where the kernel's range for
# automatic ports is made ten ports wide: every one of them is then taken by outgoing
# connections, as on a busy machine, except the held one.
IN_NAMESPACE = r"""
import fcntl, socket, struct, sys
from harness.ports import HeldPorts
from mock_backends import start_backend

lo = struct.pack("16sh", b"lo", 0)
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as ctl:
    flags = struct.unpack("16sh", fcntl.ioctl(ctl, 0x8913, lo))[1]  # SIOCGIFFLAGS
    fcntl.ioctl(ctl, 0x8914, struct.pack("16sh", b"lo", flags | 1))  # SIOCSIFFLAGS: up
with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as ports_range:
    ports_range.write("40000 40009")
held = HeldPorts(["web"]) if sys.argv[1] == "held" else None
port = held.ports["web"] if held else 40004
backend = start_backend("roster", port=port)
backend.stop()  # between two scenarios
server = socket.create_server(("127.0.0.1", 5000))
outgoing = []
try:
    while True:
        outgoing.append(socket.create_connection(("127.0.0.1", 5000)))
except OSError:
    pass  # every automatic port is taken
try:
    start_backend("roster", port=port).stop()
    print("restarted")
except OSError as exc:
    print(exc)
"""


def _can_unshare_network() -> bool:
    try:
        return subprocess.run(["unshare", "--net", "true"], timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(
    os.geteuid() != 0 or not _can_unshare_network(), reason="needs a network namespace"
)
def test_a_busy_machine_takes_every_free_port_but_a_held_one():
    def run(mode: str) -> str:
        done = subprocess.run(
            ["unshare", "--net", sys.executable, "-c", IN_NAMESPACE, mode],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert run("held") == "restarted"
    # The check can fail: a port reserved the old way, free while its backend is stopped,
    # is taken by an outgoing connection.
    assert "Address already in use" in run("free")
