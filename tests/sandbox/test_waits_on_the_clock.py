"""On SandboxTarget the clock also jumps over waits outside Lua that only the clock can
end: a mock backend of this process holding a request (a latency or hang fault, once the
backend is attached to the target, as the runner does), and the harness's own HTTP
request while a module's timer is what will answer it. The verdict is the one real time
gives: a module's timeout shorter than the hold still fires first. A mock that is not
attached (in another process, say) is waited for in real time."""

from __future__ import annotations

import os
import time

import pytest
from muc_auth_profile import muc_auth_profile

from harness.profile import Profile, VirtualHostProfile
from harness.stanza import local_name
from harness.targets import create_target
from mock_backends import start_backend

MODULES = os.path.join(os.path.dirname(__file__), "modules")
JOIN = '<presence to="tea@rooms.localhost/Alice"><x xmlns="http://jabber.org/protocol/muc"/></presence>'


def _presence(element) -> bool:
    return local_name(element) == "presence"


@pytest.fixture
def service():
    with start_backend("muc_auth") as backend:
        yield backend


def _muc_target(service, timeout: float):
    target = create_target("sandbox", muc_auth_profile(service.url, muc_http_auth_timeout=timeout))
    target.start()
    target.create_user("alice", "localhost", "pw")
    return target


def _join(target, service, latency: float, attach: bool):
    """Alice joins while the service takes `latency` s to decide: (her answer, real
    seconds, seconds on the target's clock)."""
    service.add_fault(path="/can-join", latency=latency)
    if attach:
        target.attach_backends([service])
    alice = target.connect("alice@localhost", "pw")
    clock, real = target.monotonic(), time.monotonic()
    alice.send(JOIN)
    answer = alice.receive(_presence, timeout=30)
    return answer, time.monotonic() - real, target.monotonic() - clock


def test_a_slow_attached_mock_costs_clock_time_not_real_time(service):
    target = _muc_target(service, timeout=10)
    try:
        answer, real, clock = _join(target, service, latency=5, attach=True)
    finally:
        target.stop()
    assert answer.get("type") is None  # admitted, after the service's 5 s
    assert 5 <= clock < 6
    assert real < 2.0
    assert len(service.journal()) == 1


def test_a_module_timeout_shorter_than_the_hold_still_fires_first(service):
    target = _muc_target(service, timeout=1)
    try:
        answer, real, clock = _join(target, service, latency=5, attach=True)
        log = [line.message for line in target.log()]
    finally:
        target.stop()
    assert answer.get("type") == "error"  # refused: the service did not answer in 1 s
    assert 1 <= clock < 5
    assert real < 2.0
    assert not any("Traceback" in message for message in log)


def test_a_mock_not_attached_is_waited_for_in_real_time(service):
    target = _muc_target(service, timeout=10)
    try:
        answer, real, clock = _join(target, service, latency=0.6, attach=False)
    finally:
        target.stop()
    assert answer.get("type") is None
    assert real >= 0.6
    assert 0.6 <= clock < 5  # not on to the module's 10 s timer once the answer is in


def test_a_hang_ends_when_the_backend_stops_even_on_a_clock_that_never_reaches_it(service):
    target = _muc_target(service, timeout=1)
    try:
        service.add_fault(path="/can-join", hang=500)
        target.attach_backends([service])
        alice = target.connect("alice@localhost", "pw")
        alice.send(JOIN)
        assert alice.receive(_presence, timeout=30).get("type") == "error"
    finally:
        target.stop()
    real = time.monotonic()
    service.stop()  # the held request is let go: no thread waits out the 500 s
    assert time.monotonic() - real < 1.0


def test_an_http_request_a_timer_answers_costs_no_real_time():
    profile = Profile(
        hosts={"localhost": VirtualHostProfile("localhost", modules_enabled=["probe_http"])}
    )
    with create_target("sandbox", profile, MODULES) as target:
        clock, real = target.monotonic(), time.monotonic()
        response = target.http("GET", "/probe_http/later", timeout=5)
        assert response.status == 200
        assert response.body == b"resolved after a second"
        assert 1 <= target.monotonic() - clock < 2
        assert time.monotonic() - real < 0.5


def test_an_http_request_nothing_answers_times_out_on_the_clock():
    from harness.target import TargetError

    profile = Profile(
        hosts={"localhost": VirtualHostProfile("localhost", modules_enabled=["probe_http"])}
    )
    with create_target("sandbox", profile, MODULES) as target:
        real = time.monotonic()
        with pytest.raises(TargetError, match="timed out after 0.5 s"):
            target.http("GET", "/probe_http/later", timeout=0.5)  # answered only at +1 s
        assert time.monotonic() - real < 0.5


def test_connections_are_told_apart_by_both_ports():
    # The kernel may give two connections to two different backends the same client
    # port: one parked at the first says nothing of the one waiting on the second.
    import threading

    from harness.sandbox.loop import VirtualClock
    from harness.sandbox.parking import ParkingLot

    lot = ParkingLot(VirtualClock(realtime=True), lambda: None)
    stopping = threading.Event()
    holder = threading.Thread(target=lot.wait, args=(30, stopping, (40000, 8001)))
    holder.start()
    try:
        deadline = time.monotonic() + 2
        while lot.earliest_end([(40000, 8001)]) is None and time.monotonic() < deadline:
            time.sleep(0.001)
        assert lot.earliest_end([(40000, 8001)]) is not None
        assert lot.earliest_end([(40000, 8001), (40000, 8002)]) is None
    finally:
        stopping.set()
        holder.join(2)
    assert not holder.is_alive()
    assert lot.earliest_end([(40000, 8001)]) is None  # the wait ended: nothing parked
