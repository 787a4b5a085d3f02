"""The module API as Prosody 0.12 gives it, seen from probe modules in the sandbox."""

from __future__ import annotations

import pytest

from harness.sandbox import SandboxLuaError
from harness.target import TargetError


def test_options_and_typed_getters_convert_like_prosody(sandbox):
    sandbox.load_module(
        "probe_options",
        {
            "probe_raw": {"nested": [1, 2]},
            "probe_string": "text",
            "probe_list": ["x", "y", "x"],
            "probe_number_text": "42",
            "probe_yes": "true",
            "probe_no": "maybe",
            "probe_inherited": ["c"],
            "probe_path": "sub/dir",
        },
    )
    got = sandbox.fire_event("probe/options")
    assert got["host"] == "localhost" and got["name"] == "probe_options"
    assert got["host_type"] == "local"
    assert got["raw"] == {"nested": [1, 2]}
    assert got["missing"] == "fallback"
    assert got["string"] == "text"
    assert got["string_from_list"] == "x"  # a list read as a string gives its first item
    assert got["number"] == 42  # numeric text is converted
    assert got["boolean_yes"] is True and got["boolean_default"] is True
    assert "boolean_unknown" not in got  # "maybe" is neither: nil, and a warning
    assert got["array"] == ["x", "y", "x"] and got["array_from_string"] == ["text"]
    assert got["set"] == ["x", "y"]
    assert got["inherited"] == ["a", "b", "c"]  # global plus host
    assert got["path"].endswith("/sub/dir") and got["path"].startswith("/")
    assert got["global"] == "host"  # the host's value wins over the global one


def test_hook_priorities_stop_rule_wrap_event_and_global_hooks(sandbox):
    sandbox.load_module("probe_events")
    assert sandbox.fire_event("probe/order") is None
    assert sandbox.fire_event("probe/calls") == ["high", "default", "low"]
    assert sandbox.fire_event("probe/stop") == "stopped here"
    assert sandbox.fire_event("probe/calls") in ({}, [])  # the lower handler never ran
    assert sandbox.fire_event("probe/wrapped", {"value": 4}) == "wrapped(inner saw 8)"
    sandbox.fire_event("probe/global", host="*")
    sandbox.fire_event("probe/global")
    assert sandbox.fire_event("probe/calls") == ["from global", "global"]


def test_require_depends_and_shared(sandbox):
    sandbox.load_module("probe_lib")
    got = sandbox.fire_event("probe/lib")
    assert got == {
        "greeting": "hello from lib",
        "depends_name": "probe_events",
        "shared_counter": 1,
    }
    assert "probe_events" in sandbox.lua_eval(
        "local t = {} for name in pairs(prosody.hosts.localhost.modules) do t[#t+1] = name end "
        "return table.concat(t, ' ')"
    )


def test_keyval_and_map_stores_live_in_memory(sandbox):
    sandbox.load_module("probe_store")
    got = sandbox.fire_event("probe/store", {"user": "john", "colour": "blue", "size": 3})
    assert got == {"colour": "blue", "size": 3}


def test_timers_fire_only_when_the_clock_is_advanced(sandbox):
    sandbox.load_module("probe_timer")
    sandbox.advance(1.9)
    assert sandbox.fire_event("probe/timers") in ({}, [])
    sandbox.advance(0.1)
    assert sandbox.fire_event("probe/timers") == ["tick 1 at +2"]
    sandbox.advance(10)
    assert sandbox.fire_event("probe/timers") == [
        "tick 1 at +2",
        "tick 2 at +4",
        "once at +5",
        "tick 3 at +6",
    ]


def test_send_iq_resolves_with_the_reply(users):
    users.load_module("probe_iq")
    john = users.connect("john@localhost", "s3cret", "desk")
    users.fire_event("probe/send_iq", {"to": "localhost", "id": "to-host"})
    users.fire_event("probe/send_iq", {"to": john.jid, "id": "to-client"})
    john.receive(lambda e: e.get("id") == "to-client")
    users.advance(0)
    outcome = users.fire_event("probe/iq_outcome")
    assert outcome["to-host"] == "result from localhost"
    # The client answers pings it has no handler for with an error, as slixmpp does.
    assert outcome["to-client"] == "error feature-not-implemented"


def test_send_iq_timeout_fires_on_the_virtual_clock(users):
    users.load_module("probe_iq")
    users.lua_eval("""
        -- a module on the host that swallows pings, so the only way out is the timeout
        prosody.hosts.localhost.events.add_handler("iq-get/host/urn:xmpp:ping:ping",
            function () return true end, 100)
    """)
    users.fire_event("probe/send_iq", {"to": "localhost", "id": "slow", "timeout": 3})
    users.advance(2.9)
    assert "slow" not in users.fire_event("probe/iq_outcome")
    users.advance(0.2)
    assert users.fire_event("probe/iq_outcome")["slow"] == "error remote-server-timeout"


def test_lua_errors_come_back_with_traceback_and_file_line(sandbox):
    with pytest.raises(SandboxLuaError) as caught:
        sandbox.lua_eval("local t = nil\nreturn t.field")
    assert "sandbox-test:2:" in str(caught.value)
    assert "stack traceback" in str(caught.value)


def test_a_module_that_does_not_exist_fails_to_load_with_the_reason(sandbox, errors):
    with pytest.raises(TargetError, match="mod_no_such_thing did not load"):
        sandbox.load_module("no_such_thing")
    assert any("no_such_thing" in message for message in errors(sandbox))
