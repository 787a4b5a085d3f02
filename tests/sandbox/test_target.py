"""SandboxTarget through the target registry, as the runner drives it."""

from __future__ import annotations

import os
import time

import pytest
import requests

from harness.profile import Profile, VirtualHostProfile
from harness.stanza import local_name
from harness.target import Client, LogLine, TargetError
from harness.targets import DEFAULT_TARGET, create_target

MODULES = os.path.join(os.path.dirname(__file__), "modules")


@pytest.fixture
def target():
    profile = Profile(
        hosts={
            "localhost": VirtualHostProfile(
                "localhost", modules_enabled=["probe_timer", "probe_http"]
            )
        }
    )
    started = create_target("sandbox", profile, MODULES)
    started.start()
    yield started
    started.stop()
    started.stop()  # safe twice


def test_the_sandbox_is_the_default_target():
    assert DEFAULT_TARGET == "sandbox"


def test_clients_log_in_and_exchange_messages(target):
    target.create_user("john", "localhost", "pw")
    target.create_user("marie", "localhost", "pw")
    john = target.connect("john@localhost", "pw", "a")
    marie = target.connect("marie@localhost", "pw", "b")
    assert isinstance(john, Client) and john.jid == "john@localhost/a"
    john.send('<message to="marie@localhost/b" type="chat"><body>hello</body></message>')
    assert local_name(marie.receive()) == "message"
    assert marie.pending() == []
    with pytest.raises(TargetError):
        target.connect("john@localhost", "nope")


def test_wait_jumps_the_clock_without_sleeping(target):
    started = time.monotonic()
    target.wait(30)
    assert time.monotonic() - started < 1.0
    fired = target.sandbox.fire_event("probe/timers")
    assert fired[-1] == "tick 3 at +6" and "once at +5" in fired


def test_timers_also_follow_real_time_during_a_scenario(target):
    # The target's clock runs along with real time, so a module timer fires while a
    # scenario waits for something, as it would on a real server.
    time.sleep(2.2)
    fired = target.sandbox.fire_event("probe/timers")
    assert fired and fired[0].startswith("tick 1 at +2")


def test_http_url_is_a_real_server_others_can_call(target):
    got = requests.get(f"{target.http_url}/probe_http/created", timeout=5)
    assert got.status_code == 201
    assert target.http("GET", "/probe_http/created").status == 201
    with pytest.raises(TargetError):
        target.http("GET", "no-slash")


def test_log_lines_have_levels_and_sources(target):
    lines = target.log()
    assert lines and all(isinstance(line, LogLine) for line in lines)
    assert any(line.source == "portmanager" and "http" in line.message for line in lines)
    assert target.error_lines() == []


def test_a_module_that_fails_to_load_shows_in_the_error_lines():
    profile = Profile(
        hosts={"localhost": VirtualHostProfile("localhost", modules_enabled=["no_such_module"])}
    )
    with create_target("sandbox", profile, MODULES) as broken:
        assert any("no_such_module" in line.message for line in broken.error_lines())
