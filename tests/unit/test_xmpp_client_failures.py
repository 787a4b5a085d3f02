"""XmppClient fails clearly and within its bound against servers that misbehave.

Real sockets on loopback, no Prosody: a closed port, a server that accepts and says
nothing, one that hangs up at once. (Logins against real Prosody: tests/prosody.)
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from harness.target import TargetError
from harness.xmpp_client import LOOP, XmppClient


@pytest.fixture
def listener():
    """A loopback listening socket; `behaviour` decides what happens to connections."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    state = {"behaviour": "silent", "accepted": []}

    def serve():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            state["accepted"].append(conn)
            if state["behaviour"] == "hang up":
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1], state
    sock.close()
    for conn in state["accepted"]:
        conn.close()


def test_connection_refused_is_reported_at_once():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends
    started = time.monotonic()
    with pytest.raises(TargetError, match=rf"a@localhost: cannot connect to 127.0.0.1:{port}"):
        XmppClient.connect("a@localhost", "pw", "127.0.0.1", port, timeout=5)
    assert time.monotonic() - started < 1


def test_a_silent_server_times_out_at_the_bound(listener):
    port, _ = listener
    started = time.monotonic()
    with pytest.raises(TargetError, match=r"no session within 0.5 s"):
        XmppClient.connect("a@localhost", "pw", "127.0.0.1", port, timeout=0.5)
    assert time.monotonic() - started < 1.5


def test_a_server_hanging_up_is_reported(listener):
    port, state = listener
    state["behaviour"] = "hang up"
    with pytest.raises(TargetError, match="closed the stream before the session"):
        XmppClient.connect("a@localhost", "pw", "127.0.0.1", port, timeout=3)


def test_one_loop_thread_serves_every_client(listener):
    port, _ = listener
    before = {t.name for t in threading.enumerate()}
    for _ in range(3):
        with pytest.raises(TargetError):
            XmppClient.connect("a@localhost", "pw", "127.0.0.1", port, timeout=0.2)
    names = [t.name for t in threading.enumerate()]
    assert names.count("xmpp-clients") == 1
    assert set(names) - before <= {"xmpp-clients"}
    assert LOOP.loop.is_running()
