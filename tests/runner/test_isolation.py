"""Per-scenario account names on a shared server."""

from __future__ import annotations

from harness.runner.isolation import Namespace
from harness.scenario import load_scenario

SCENARIO = """\
name: renaming
prosody:
  options: {admins: ["boss@localhost"]}
  components: {rooms.localhost: {module: muc}}
backends:
  web: {kind: roster, rosters: {john: {"marie@localhost": {name: Marie}}}}
users: {"boss@localhost": pw}
clients:
  john: {jid: john@localhost, password: pw}
steps:
  - john connects
  - john sends: <presence to="lobby@rooms.localhost/john"/>
  - http POST /roster_admin/refresh:
      json: [john, boss]
  - web received: {last: {path: /contacts/john}}
"""


def namespace(scenario_file) -> Namespace:
    return Namespace.for_scenario(load_scenario(scenario_file("s.yaml", SCENARIO)), "_s4")


def test_local_names_are_those_of_jids_on_the_profile_hosts_except_in_options(scenario_file):
    assert namespace(scenario_file).names == {"john", "marie", "lobby"}


def test_names_are_renamed_wherever_they_stand_alone(scenario_file):
    ns = namespace(scenario_file)
    assert ns.apply("john@localhost") == "john_s4@localhost"
    assert ns.apply("lobby@rooms.localhost/john") == "lobby_s4@rooms.localhost/john_s4"
    assert ns.apply("/contacts/john") == "/contacts/john_s4"
    assert ns.apply({"john": ["marie@localhost", "boss@localhost"]}) == {
        "john_s4": ["marie_s4@localhost", "boss@localhost"]
    }


def test_xml_names_namespaces_placeholders_and_longer_words_are_left_alone(scenario_file):
    ns = namespace(scenario_file)
    for text in (
        "<john/>",
        "</john>",
        "jabber:iq:john",
        "${john.full_jid}",
        "johnny",
        "big-john",
        "john.example",
        "john=1",
    ):
        assert ns.apply(text) == text


def test_undo_gives_back_the_names_as_written(scenario_file):
    ns = namespace(scenario_file)
    assert (
        ns.undo(ns.apply("<message to='john@localhost/x'>marie</message>"))
        == "<message to='john@localhost/x'>marie</message>"
    )


def test_an_empty_suffix_changes_nothing(scenario_file):
    scenario = load_scenario(scenario_file("s.yaml", SCENARIO))
    assert Namespace.for_scenario(scenario, "").apply("john@localhost") == "john@localhost"


ROOM_OPTIONS = """\
name: rooms named by an option
prosody:
  components:
    rooms.localhost:
      module: muc
      options:
        auth_url: "${web.url}/tea"
        enabled_for: [tea]
        per_host: {localhost: [board], tea-time: [x]}
backends:
  web: {kind: muc_auth}
clients:
  alice: {jid: alice@localhost, password: pw}
steps:
  - alice sends: <presence to="tea@rooms.localhost/A"/>
  - alice sends: <presence to="board@rooms.localhost/A"/>
  - alice sends: <presence to="coffee@rooms.localhost/A"/>
  - alice sends: <presence to="time@rooms.localhost/A"/>
"""


def test_names_the_options_mention_as_bare_words_are_shared_not_renamed(scenario_file):
    scenario = load_scenario(scenario_file("rooms.yaml", ROOM_OPTIONS))
    ns = Namespace.for_scenario(scenario, "_s4")
    # tea and board are in option lists; "tea" in a URL path counts too. "time" only
    # appears inside the longer word tea-time, so it is still the scenario's own.
    assert ns.names == {"alice", "coffee", "time"}
    assert ns.apply("tea@rooms.localhost/A") == "tea@rooms.localhost/A"
    assert ns.apply("board@rooms.localhost") == "board@rooms.localhost"
    assert ns.apply("coffee@rooms.localhost") == "coffee_s4@rooms.localhost"
