"""On SandboxTarget (realtime), module timers fire while a test only waits for
stanzas, as they would on a real server: no `wait:` step needed."""

from __future__ import annotations

import socket
import time

import pytest
from muc_auth_profile import muc_auth_profile

from harness.targets import create_target

REFUSED = '<presence type="error"'


@pytest.fixture
def hanging_service():
    """A TCP service that accepts and never answers (an HTTP backend that hangs)."""
    listener = socket.create_server(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@pytest.fixture
def muc_target(hanging_service):
    target = create_target("sandbox", muc_auth_profile(hanging_service, muc_http_auth_timeout=0.5))
    target.start()
    target.create_user("alice", "localhost", "s3cret")
    yield target
    target.stop()


def _join(target):
    alice = target.connect("alice@localhost", "s3cret")
    alice.send(
        '<presence to="tea@rooms.localhost/Alice"><x xmlns="http://jabber.org/protocol/muc"/></presence>'
    )
    return alice


def test_timeout_timer_fires_during_a_receive(muc_target):
    alice = _join(muc_target)
    started = time.monotonic()
    refusal = alice.receive(lambda e: e.get("type") == "error", timeout=3.0)
    took = time.monotonic() - started
    assert refusal.get("from") == "tea@rooms.localhost/Alice"
    assert 0.4 < took < 1.5  # at the module's 0.5 s timeout, not at the receive's bound
    assert any("did not answer within 0.5 s" in line.message for line in muc_target.log())


def test_timer_fires_during_receives_nothing_window(muc_target):
    alice = _join(muc_target)
    time.sleep(0.8)  # what `receives nothing: {within: 0.8}` does: real time passes
    assert [e.get("type") for e in alice.pending()] == ["error"]
