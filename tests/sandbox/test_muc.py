"""Prosody's own mod_muc on a component: pre-create/pre-join events and join outcomes."""

from __future__ import annotations

import os

import pytest

from harness.profile import ComponentProfile, Profile
from harness.sandbox import Sandbox
from harness.stanza import local_name

MUC_USER = "{http://jabber.org/protocol/muc#user}"
STANZAS = "{urn:ietf:params:xml:ns:xmpp-stanzas}"
JOIN = '<presence to="{room}/{nick}"><x xmlns="http://jabber.org/protocol/muc"/></presence>'


@pytest.fixture
def muc():
    profile = Profile(
        components={
            "rooms.localhost": ComponentProfile(
                "rooms.localhost",
                modules_enabled=["probe_muc_gate"],
                options={"muc_room_locking": False},
            )
        }
    )
    box = Sandbox(profile, modules_dir=os.path.join(os.path.dirname(__file__), "modules"))
    box.start()
    for name in ("alice", "bob", "eve"):
        box.create_user(name, "localhost", "pw")
    yield box
    box.stop()


def presences(client):
    return lambda e: local_name(e) == "presence"


def status_codes(presence) -> set[str]:
    return {s.get("code") for s in presence.iter(f"{MUC_USER}status")}


def test_first_join_creates_the_room_and_gets_self_presence(muc):
    alice = muc.connect("alice@localhost", "pw", "home")
    alice.send(JOIN.format(room="tea@rooms.localhost", nick="Alice"))
    own = alice.receive(presences(alice))
    assert own.get("from") == "tea@rooms.localhost/Alice"
    assert {"110", "201"} <= status_codes(own)
    item = own.find(f"{MUC_USER}x/{MUC_USER}item")
    assert (item.get("affiliation"), item.get("role")) == ("owner", "moderator")
    assert muc.fire_event("probe/muc", host="rooms.localhost") == [
        "pre-create tea@rooms.localhost",
        "pre-join tea@rooms.localhost by alice@localhost/home",
    ]


def test_second_occupant_sees_the_first_and_is_announced(muc):
    alice = muc.connect("alice@localhost", "pw", "home")
    alice.send(JOIN.format(room="tea@rooms.localhost", nick="Alice"))
    alice.receive(presences(alice))
    bob = muc.connect("bob@localhost", "pw", "work")
    bob.send(JOIN.format(room="tea@rooms.localhost", nick="Bob"))
    first = bob.receive(presences(bob))
    assert first.get("from") == "tea@rooms.localhost/Alice"
    own = bob.receive(presences(bob))
    assert own.get("from") == "tea@rooms.localhost/Bob" and "110" in status_codes(own)
    announced = alice.receive(
        lambda e: local_name(e) == "presence" and e.get("from") == "tea@rooms.localhost/Bob"
    )
    assert "110" not in status_codes(announced)


def test_a_refused_join_gets_the_error_and_no_occupant(muc):
    alice = muc.connect("alice@localhost", "pw", "home")
    alice.send(JOIN.format(room="tea@rooms.localhost", nick="Alice"))
    alice.receive(presences(alice))
    eve = muc.connect("eve@localhost", "pw")
    eve.send(JOIN.format(room="tea@rooms.localhost", nick="Intruder"))
    refused = eve.receive(presences(eve))
    assert refused.get("type") == "error"
    assert refused.find(f"{{jabber:client}}error/{STANZAS}not-authorized") is not None
    occupants = muc.lua_eval("""
        local muc = prosody.hosts["rooms.localhost"].modules.muc
        local room = muc.get_room_from_jid("tea@rooms.localhost")
        local n = 0 for _ in room:each_occupant() do n = n + 1 end return n""")
    assert occupants == 1
