"""Client sessions: login, routing through Prosody's stanza router, async handlers."""

from __future__ import annotations

import os

import pytest

from harness.profile import Profile, VirtualHostProfile
from harness.sandbox import Sandbox
from harness.stanza import local_name
from harness.target import ReceiveTimeout, TargetError

CLIENT = "{jabber:client}"


def test_login_checks_the_password_and_binds_the_resource(users):
    john = users.connect("john@localhost", "s3cret", "desk")
    assert john.jid == "john@localhost/desk"
    generated = users.connect("john@localhost", "s3cret")
    assert generated.jid.startswith("john@localhost/") and generated.jid != john.jid
    with pytest.raises(TargetError, match="not-authorized"):
        users.connect("john@localhost", "wrong")
    with pytest.raises(TargetError, match="not-authorized"):
        users.connect("nobody@localhost", "s3cret")


def test_roster_get_is_answered_by_prosodys_mod_roster(users):
    john = users.connect("john@localhost", "s3cret")
    john.send('<iq type="get" id="r1"><query xmlns="jabber:iq:roster"/></iq>')
    reply = john.receive()
    assert (reply.get("type"), reply.get("id")) == ("result", "r1")
    assert reply.find("{jabber:iq:roster}query") is not None


def test_messages_and_presence_are_routed_between_sessions(users):
    john = users.connect("john@localhost", "s3cret", "desk")
    marie = users.connect("marie@localhost", "s3cret", "phone")
    john.send('<message to="marie@localhost/phone" type="chat" id="m1"><body>hi</body></message>')
    got = marie.receive(lambda e: local_name(e) == "message")
    assert got.get("from") == "john@localhost/desk"
    assert got.findtext(f"{CLIENT}body") == "hi"
    # Initial presence goes back to the sender's own session; Marie is no contact.
    john.send("<presence/>")
    assert john.receive(lambda e: local_name(e) == "presence").get("from") == john.jid
    with pytest.raises(ReceiveTimeout):
        marie.receive(lambda e: local_name(e) == "presence", timeout=0.2)


def test_unknown_remote_domains_bounce(users):
    john = users.connect("john@localhost", "s3cret")
    john.send('<message to="someone@elsewhere.example" id="r"><body>x</body></message>')
    bounce = john.receive()
    assert bounce.get("type") == "error"
    assert (
        bounce.find(f"{CLIENT}error/{{urn:ietf:params:xml:ns:xmpp-stanzas}}remote-server-not-found")
        is not None
    )


def test_disconnect_destroys_the_session(users):
    john = users.connect("john@localhost", "s3cret", "desk")
    john.disconnect()
    assert users.lua_eval("return prosody.full_sessions['john@localhost/desk'] == nil")
    with pytest.raises(TargetError):
        john.send("<presence/>")


def test_a_stanza_handler_can_wait_for_http(users, httpserver):
    httpserver.expect_request("/answer").respond_with_data("forty-two")
    users.load_module("probe_async", {"probe_async_url": httpserver.url_for("/answer")})
    john = users.connect("john@localhost", "s3cret")
    john.send('<message to="localhost" id="q1"><body>question</body></message>')
    reply = john.receive(timeout=5)
    assert reply.findtext(f"{CLIENT}body") == "forty-two"
    assert reply.get("id") == "q1"


def test_an_error_in_a_handler_is_logged_at_error_level_with_file_and_line(users, errors):
    users.load_module("probe_broken")
    john = users.connect("john@localhost", "s3cret")
    john.send('<message to="localhost"><body>boom</body></message>')
    users.advance(0)
    logged = errors(users)
    assert any("mod_probe_broken.lua:4:" in message for message in logged), logged


def test_modules_enabled_in_the_profile_load_at_start(tmp_path):
    profile = Profile(
        hosts={
            "localhost": VirtualHostProfile(
                "localhost", modules_enabled=["probe_events"], modules_disabled=["ping"]
            )
        }
    )
    from os.path import dirname, join

    with Sandbox(profile, modules_dir=join(dirname(__file__), "modules")) as box:
        loaded = box.lua_eval(
            "local t = {} for name in pairs(prosody.hosts.localhost.modules)"
            " do t[#t+1] = name end return t"
        )
        assert "probe_events" in loaded and "roster" in loaded and "ping" not in loaded


def test_file_storage_works_in_the_sandboxs_own_data_directory():
    with Sandbox(Profile(options={"default_storage": "internal"})) as box:
        box.create_user("john", "localhost", "pw")
        john = box.connect("john@localhost", "pw")
        john.send('<iq type="get" id="r1"><query xmlns="jabber:iq:roster"/></iq>')
        assert john.receive().get("type") == "result"
        data_dir = box.lua_eval("return prosody.paths.data")
        assert os.path.isdir(os.path.join(data_dir, "localhost", "accounts"))


def test_options_the_harness_owns_are_refused_with_a_reason():
    with pytest.raises(TargetError, match="invalid profile: .*http_ports is set by the harness"):
        Sandbox(Profile(options={"http_ports": [5280]})).start()
