"""The mocks against real Prosody and the real modules: the counterpart each mock plays
speaks the protocol the module expects."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from harness.profile import ComponentProfile, Profile, VirtualHostProfile
from harness.targets.prosody import ProsodyTarget
from mock_backends.muc_auth import MucAuthBackend
from mock_backends.roster import RosterBackend

pytestmark = pytest.mark.prosody

PASSWORD = "s3cret"
ROSTER_NS = "{jabber:iq:roster}"
MUC_NS = "http://jabber.org/protocol/muc"


def wait_for(condition, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.fixture
def roster_app() -> Iterator[RosterBackend]:
    with RosterBackend({"rosters": {"john": {"marie@localhost": {"name": "Marie"}}}}) as app:
        yield app


def test_befriend_notifies_prosody_and_records_its_summary(roster_app: RosterBackend) -> None:
    host = VirtualHostProfile(
        "localhost",
        modules_enabled=["http_roster_admin", "block_subscriptions"],
        modules_disabled=["roster"],
        options={
            "storage": {"roster": "memory"},
            "http_roster_url": f"{roster_app.url}/contacts/%s",
        },
    )
    with ProsodyTarget(Profile(hosts={"localhost": host})) as server:
        server.create_user("john", "localhost", PASSWORD)
        john = server.connect("john@localhost", PASSWORD)
        wait_for(lambda: roster_app.journal(), what="the login fetch")
        assert roster_app.journal()[0]["path"] == "/contacts/john"
        # Prosody pushes roster changes only to sessions that asked for the roster.
        john.send(f'<iq type="get" id="r1"><query xmlns="{ROSTER_NS[1:-1]}"/></iq>')
        john.receive(lambda el: el.get("id") == "r1", timeout=3)

        answer = roster_app.befriend(
            "john",
            "aaron",
            names={"aaron": "Aaron"},
            refresh_url=f"{server.http_url}/roster_admin/refresh",
        )

        assert answer["status"] == 200, answer
        assert answer["json"]["status"] == "ok" and answer["json"]["errors"] == 0
        push = john.receive(lambda el: el.get("type") == "set", timeout=3)
        item = push.find(f"{ROSTER_NS}query/{ROSTER_NS}item")
        assert (item.get("jid"), item.get("name")) == ("aaron@localhost", "Aaron")
        # The refresh made Prosody fetch john's roster again (aaron is offline: nothing to do).
        fetched = [entry["path"] for entry in roster_app.journal()]
        assert fetched == ["/contacts/john", "/contacts/john"]
        assert not [line.raw for line in server.log() if line.is_error]


def test_muc_auth_rules_decide_real_joins() -> None:
    with MucAuthBackend(
        {"rules": [{"room": "secret", "allowed": False, "error": "members only"}]}
    ) as auth:
        component = ComponentProfile(
            "rooms.localhost",
            module="muc",
            modules_enabled=["muc_http_auth"],
            options={"muc_http_auth_url": f"{auth.url}/can-join"},
        )
        profile = Profile(
            hosts={"localhost": VirtualHostProfile("localhost")},
            components={"rooms.localhost": component},
        )
        with ProsodyTarget(profile) as server:
            server.create_user("romeo", "localhost", PASSWORD)
            romeo = server.connect("romeo@localhost", PASSWORD)
            for room in ("tea", "secret"):
                romeo.send(
                    f'<presence to="{room}@rooms.localhost/romeo"><x xmlns="{MUC_NS}"/></presence>'
                )
            joined = romeo.receive(lambda el: el.get("from", "").startswith("tea@"), 3)
            refused = romeo.receive(lambda el: el.get("from", "").startswith("secret@"), 3)
            assert joined.get("type") is None
            assert refused.get("type") == "error"
            queries = {entry["query"]["mucJID"]: entry["query"] for entry in auth.journal()}
            assert queries["secret@rooms.localhost"]["userJID"] == "romeo@localhost"
            assert set(queries) == {"tea@rooms.localhost", "secret@rooms.localhost"}
