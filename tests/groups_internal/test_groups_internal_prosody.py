"""mod_groups_internal's API on real Prosody 0.12 and 13, called the way other modules call
it (a probe module in modules/ reaches it through modulemanager.get_module and answers over
HTTP): names and results as in prosody-modules' module, the events it fires, the rooms of
groups, renames, delayed updates, module reloads, and a broken groups_muc_host."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from admin_rest_support import HOST, Api, Servers, admin_profile

from harness.targets.prosody import ProsodyTarget

pytestmark = pytest.mark.prosody

PROBE = Path(__file__).resolve().parent / "modules" / "mod_groups_probe"
ROOMS = "rooms.localhost"
UPSTREAM_API = (
    "create",
    "delete",
    "exists",
    "get_info",
    "set_info",
    "get_members",
    "get_user_groups",
    "add_member",
    "remove_member",
    "sync",
    "groups",
    "add_group_chat",
    "remove_group_chat",
    "get_group_chats",
    "emit_member_events",
)


class Groups:
    """The probe's view of mod_groups_internal on one server."""

    def __init__(self, target: ProsodyTarget) -> None:
        self.target = target

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        answer = self.target.http(
            "POST",
            f"/groups_probe/{path}",
            {"Content-Type": "application/json"},
            json.dumps(payload).encode(),
            10,
        )
        assert answer.status == 200, answer.text()
        return answer.json()

    def call(self, fn: str, *args: Any) -> list[Any]:
        return self._post("call", {"fn": fn, "args": list(args)})["results"]

    def room(self, jid: str, user: str | None = None) -> dict[str, Any]:
        return self._post("room", {"host": ROOMS, "jid": jid, "user": user})

    def events(self) -> list[dict[str, Any]]:
        answer = self.target.http("GET", "/groups_probe/events", {}, None, 10)
        return answer.json()["events"]


def start(servers: Servers, modules_with, muc: bool = False, **options: Any) -> ProsodyTarget:
    components = {ROOMS: {"module": "muc"}} if muc else {}
    if muc:
        options.setdefault("groups_muc_host", ROOMS)
    profile = admin_profile(
        modules=["groups_internal", "groups_probe"], components=components, **options
    )
    server = servers.start(profile, modules_dir=modules_with(PROBE))
    for name in ("john", "marie", "aaron"):
        server.create_user(name, HOST, "s3cret")
    return server


def test_the_api_has_the_upstream_names(servers: Servers, modules_with) -> None:
    groups = Groups(start(servers, modules_with))
    for name in UPSTREAM_API:
        answer = groups.target.http(
            "POST", "/groups_probe/call", {}, json.dumps({"fn": name, "args": [None]}).encode(), 10
        )
        assert answer.status != 404, f"mod_groups_internal has no {name}()"


def test_create_exists_info_and_delete(servers: Servers, modules_with) -> None:
    groups = Groups(start(servers, modules_with))
    assert groups.call("create", {"name": "Team"}, False, "team") == ["team"]
    assert groups.call("exists", "team") == [True]
    assert groups.call("exists", "nope") == [False]
    assert groups.call("get_info", "team") == [{"name": "Team"}]
    assert groups.call("create", {"name": "Again"}, False, "team") == [None, "conflict"]
    assert groups.call("create", {}, False) == [None, "group-name-required"]
    generated = groups.call("create", {"name": "No id"})[0]
    assert isinstance(generated, str) and generated
    assert groups.call("groups") == [sorted(["team", generated])]
    assert groups.call("delete", "team") == [True]
    assert groups.call("exists", "team") == [False]
    assert groups.call("get_info", "team") == [None]
    # Deleting what is not there is not an error (as upstream).
    assert groups.call("delete", "team") == [True]


def test_members_and_their_groups(servers: Servers, modules_with) -> None:
    groups = Groups(start(servers, modules_with))
    groups.call("create", {"name": "A"}, False, "a")
    groups.call("create", {"name": "B"}, False, "b")
    assert groups.call("add_member", "a", "john") == [True]
    assert groups.call("add_member", "b", "john") == [True]
    assert groups.call("add_member", "a", "marie") == [True]
    assert groups.call("add_member", "nope", "john") == [None, "group-not-found"]
    assert groups.call("get_members", "a") == [{"john": True, "marie": True}]
    assert groups.call("get_user_groups", "john") == [["a", "b"]]
    assert groups.call("get_user_groups", "aaron") == [[]]
    assert groups.call("remove_member", "a", "john") == [True]
    assert groups.call("remove_member", "nope", "john") == [None, "group-not-found"]
    assert groups.call("get_user_groups", "john") == [["b"]]
    assert groups.call("get_members", "a") == [{"marie": True}]


def test_events_for_other_modules(servers: Servers, modules_with) -> None:
    groups = Groups(start(servers, modules_with))
    groups.call("create", {"name": "Evented"}, False, "ev")
    groups.call("add_member", "ev", "john")
    groups.call("remove_member", "ev", "john")
    groups.call("add_member", "ev", "marie")
    assert groups.call("emit_member_events", "ev") == [True]
    assert groups.call("emit_member_events", "nope") == [False, "group-not-found"]
    groups.call("delete", "ev")
    seen = [(e["event"], e.get("group_id"), e.get("user")) for e in groups.events()]
    assert seen == [
        ("group-created", "ev", None),
        ("group-user-added", "ev", "john"),
        ("group-user-removed", "ev", "john"),
        ("group-user-added", "ev", "marie"),
        ("group-user-added", "ev", "marie"),
        ("group-deleted", "ev", None),
    ]


def test_renaming_a_group_renames_the_roster_group(servers: Servers, modules_with) -> None:
    server = start(servers, modules_with)
    groups = Groups(server)
    groups.call("create", {"name": "Old name"}, False, "ren")
    groups.call("add_member", "ren", "john")
    groups.call("add_member", "ren", "marie")
    john = server.connect(f"john@{HOST}", "s3cret")
    john.roster_get()
    assert groups.call("set_info", "ren", {"name": "New name"}) == [True]
    push = john.receive(lambda s: s.get("type") == "set", timeout=3)
    group = push.find(".//{jabber:iq:roster}group")
    assert group is not None and group.text == "New name"
    assert groups.call("set_info", "ren", {"name": ""}) == [None, "bad-request"]
    roster = Api(server)("GET", "/roster/marie").json()["result"]["roster"]
    assert roster == [
        ["item", {"jid": "john@localhost", "subscription": "both", "group": ["New name"]}]
    ]


def test_sync_applies_delayed_updates(servers: Servers, modules_with) -> None:
    server = start(servers, modules_with)
    groups = Groups(server)
    api = Api(server)
    groups.call("create", {"name": "Later"}, False, "later")
    groups.call("add_member", "later", "john", True)
    groups.call("add_member", "later", "marie", True)
    assert api("GET", "/roster/john").json()["result"]["count"] == 0
    assert groups.call("sync", "later") == [True]
    assert api("GET", "/roster/john").json()["result"]["count"] == 1
    assert api("GET", "/roster/marie").json()["result"]["count"] == 1


def test_groups_survive_a_module_reload(servers: Servers, modules_with) -> None:
    server = start(servers, modules_with)
    groups = Groups(server)
    groups.call("create", {"name": "Kept"}, False, "kept")
    groups.call("add_member", "kept", "john")
    assert Api(server)("PUT", "/module/groups_internal").status == 200
    assert groups.call("get_members", "kept") == [{"john": True}]
    assert groups.call("get_user_groups", "john") == [["kept"]]


def test_default_room_and_group_chats(servers: Servers, modules_with) -> None:
    server = start(servers, modules_with, muc=True)
    groups = Groups(server)
    assert groups.call("create", {"name": "Roomy"}, True, "roomy") == ["roomy"]
    room_jid = groups.call("get_info", "roomy")[0]["muc_jid"]
    assert room_jid.endswith("@" + ROOMS)
    room = groups.room(room_jid)
    assert room["exists"] and room["name"] == "Roomy"
    assert room["members_only"] and room["persistent"]
    groups.call("add_member", "roomy", "john")
    assert groups.room(room_jid, f"john@{HOST}")["affiliation"] == "member"

    chat = groups.call("add_group_chat", "roomy", "Second room")[0]
    assert chat["name"] == "Second room" and chat["jid"].endswith("@" + ROOMS)
    assert groups.room(chat["jid"], f"john@{HOST}")["affiliation"] == "member"
    chats = groups.call("get_group_chats", "roomy")[0]
    assert sorted(c["jid"] for c in chats) == sorted([room_jid, chat["jid"]])
    assert all(c["deleted"] is False for c in chats)

    chat_id = chat["jid"].split("@")[0]
    assert groups.call("remove_group_chat", "roomy", chat_id) == [True]
    assert not groups.room(chat["jid"])["exists"]
    groups.call("remove_member", "roomy", "john")
    assert groups.room(room_jid, f"john@{HOST}")["affiliation"] is None
    assert groups.call("delete", "roomy") == [True]
    assert not groups.room(room_jid)["exists"]
    events = [e["event"] for e in groups.events()]
    assert "group-chat-added" in events and "group-chat-removed" in events


def test_a_default_room_needs_groups_muc_host(servers: Servers, modules_with) -> None:
    groups = Groups(start(servers, modules_with))
    assert groups.call("create", {"name": "No MUC"}, True, "nomuc") == [None, "service-unavailable"]
    assert groups.call("exists", "nomuc") == [False]


def test_a_groups_muc_host_without_muc_is_reported(servers: Servers, modules_with) -> None:
    server = start(servers, modules_with, groups_muc_host="nowhere.localhost")
    servers.expect_errors(server)
    errors = [line.message for line in server.log() if line.level == "error"]
    assert any(
        "groups_muc_host is nowhere.localhost, which has no MUC service" in e for e in errors
    )
    assert Groups(server).call("create", {"name": "x"}, True) == [None, "service-unavailable"]
