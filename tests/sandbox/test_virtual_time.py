"""On SandboxTarget, waiting costs no real time where only a timer can end it: a receive,
a `receives nothing` window, a `wait:` and a poll jump the clock to the next timer, and
the verdict is the one real time would give. While a connection of Prosody's is under
way the clock keeps real pace instead (test_realtime_timers.py)."""

from __future__ import annotations

import os
import time

import pytest
from muc_auth_profile import muc_auth_profile

from harness.profile import Profile, VirtualHostProfile
from harness.stanza import local_name
from harness.target import ReceiveTimeout
from harness.targets import create_target

MODULES = os.path.join(os.path.dirname(__file__), "modules")


@pytest.fixture
def target():
    profile = Profile(
        hosts={"localhost": VirtualHostProfile("localhost", modules_enabled=["probe_later"])}
    )
    started = create_target("sandbox", profile, MODULES)
    started.start()
    started.create_user("john", "localhost", "pw")
    yield started
    started.stop()


def _ask(client, seconds: float) -> None:
    client.send(f'<message to="later@localhost/x" type="chat"><body>{seconds:g}</body></message>')


def _answer(element) -> bool:
    return local_name(element) == "message"


def test_a_receive_that_a_timer_ends_takes_no_real_time(target):
    john = target.connect("john@localhost", "pw")
    clock, real = target.monotonic(), time.monotonic()
    _ask(john, 30)
    got = john.receive(_answer, timeout=60)
    assert got.findtext("{jabber:client}body") == "after 30"
    assert time.monotonic() - real < 2.0
    assert 30 <= target.monotonic() - clock < 31
    assert any("answering after 30 s" in line.message for line in target.log())


def test_the_bound_holds_on_the_clock(target):
    john = target.connect("john@localhost", "pw")
    _ask(john, 5)
    real = time.monotonic()
    with pytest.raises(ReceiveTimeout, match="within 4 s"):
        john.receive(_answer, timeout=4)  # the answer comes at +5: not within 4
    # `receives nothing: {within: 0.5}` then: nothing yet, one second later still not.
    with pytest.raises(ReceiveTimeout):
        john.receive(_answer, timeout=0.5)
    assert john.receive(_answer, timeout=1).findtext("{jabber:client}body") == "after 5"
    assert time.monotonic() - real < 2.0


def test_wait_and_polls_run_on_the_clock(target):
    john = target.connect("john@localhost", "pw")
    started = target.monotonic()
    _ask(john, 20)
    target.wait(10)
    assert john.pending() == []
    logged = target.wait_until(
        lambda: any("answering" in line.message for line in target.log()) or None, 15
    )
    assert logged is True
    assert 20 <= target.monotonic() - started < 20.5
    assert [local_name(e) for e in john.pending()] == ["message"]
    # A poll that nothing satisfies gives up at its bound, on the clock.
    before = target.monotonic()
    assert target.wait_until(lambda: None, 7) is None
    assert 7 <= target.monotonic() - before < 8


def test_many_short_lived_sandboxes_answer_http_every_time():
    # Start, one request through the shared reactor thread, stop - over and over: a lost
    # wake-up of that thread once left a request unanswered.
    for _ in range(60):
        with create_target("sandbox", Profile()) as target:
            assert target.http("GET", "/no-such-route", timeout=5).status == 404


def test_an_idle_kept_alive_connection_to_a_mock_lets_the_clock_skip():
    # mod_muc_http_auth keeps its connection to the service open between requests: once
    # the answer is in, nothing can come from there unasked, so waits skip ahead.
    from mock_backends import start_backend

    with start_backend("muc_auth") as service:
        with create_target("sandbox", muc_auth_profile(service.url)) as target:
            target.create_user("alice", "localhost", "pw")
            alice = target.connect("alice@localhost", "pw")
            alice.send(
                '<presence to="tea@rooms.localhost/Alice">'
                '<x xmlns="http://jabber.org/protocol/muc"/></presence>'
            )
            alice.receive(lambda e: local_name(e) == "presence", timeout=5)
            assert len(service.journal()) == 1
            real = time.monotonic()
            target.wait(60)
            with pytest.raises(ReceiveTimeout):
                alice.receive(lambda e: e.get("type") == "error", timeout=30)
            assert time.monotonic() - real < 2.0


def test_a_poll_may_itself_ask_the_sandbox_over_http(target):
    # The `http` step with `poll:` does: its check is a real request to the sandbox,
    # which the reactor thread must answer while the poll is under way.
    statuses = []

    def answered_twice():
        statuses.append(target.http("GET", "/no-such-route", timeout=3).status)
        return True if len(statuses) >= 2 else None

    real = time.monotonic()
    assert target.wait_until(answered_twice, 2) is True
    assert statuses == [404, 404] and time.monotonic() - real < 2.0
