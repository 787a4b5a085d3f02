"""Loading scenario files: what is accepted, and invalid files rejected with file:line."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from harness.scenario import ScenarioError, load_scenario, load_scenarios
from harness.scenario.loader import SCHEMA_FILE, discover

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]

VALID = """\
name: refresh pushes a contact
tags: [roster]
prosody:
  modules_enabled: [http_roster_admin]
  options:
    http_roster_url: "${roster.url}/contacts/%s"
backends:
  roster: {kind: roster, rosters: {john: {"marie@localhost": {name: Marie}}}}
clients:
  john: {jid: john@localhost, password: s3cret}
steps:
  - john connects
  - john sends: <iq type="get" id="r1"><query xmlns="jabber:iq:roster"/></iq>
  - john receives: <iq type="result" id="r1"/>
    timeout: 3
  - http POST /roster_admin/refresh:
      json: [john]
    expect: {status: 200, json: {status: ok}}
  - roster received: {count: 1, last: {path: /contacts/john}}
  - john receives nothing:
      within: 0.1
  - wait: 0.1
"""


def test_a_valid_scenario_loads_with_its_steps_and_lines(scenario_file):
    scenario = load_scenario(scenario_file("ok.yaml", VALID))
    assert scenario.name == "refresh pushes a contact"
    assert [s.kind for s in scenario.steps] == [
        "connect",
        "send",
        "receive",
        "http",
        "backend_received",
        "receive_nothing",
        "wait",
    ]
    assert [s.line for s in scenario.steps] == [12, 13, 14, 16, 19, 20, 22]
    assert scenario.steps[2].timeout == 3.0
    assert scenario.steps[3].params["expect"] == {"status": 200, "json": {"status": "ok"}}
    assert scenario.backends["roster"].config["rosters"]["john"]


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (("  - wait: 0.1", "  - john dances"), 22, "unknown step 'john dances'"),
        (("  - john connects", "  - jon connects"), 12, "unknown client 'jon'"),
        (("roster received:", "roster recieved:"), 19, "unknown step 'roster recieved'"),
        (('<iq type="result" id="r1"/>', '<iq type="result" id="r1">'), 14, "invalid XML"),
        (("tags: [roster]", "tags: [roster]\nflavour: vanilla"), 3, "unknown key"),
        (("kind: roster,", "kind: rooster,"), 8, "backends.roster.kind"),
        (("${roster.url}", "${rooster.url}"), 6, "'rooster' is not a backend"),
        (("    timeout: 3", "    timout: 3"), 15, "unknown key 'timout'"),
        (("expect: {status: 200,", "expect: {stat: 200,"), 18, "unknown key 'stat'"),
        (("      within: 0.1", "      within: forever"), 21, "expected a number of seconds"),
        (("  john: {jid: john@localhost", "  john: {jid: john"), 10, "not a bare JID"),
        (("name: refresh pushes a contact", "name: [unclosed"), 2, "not valid YAML"),
        (("    timeout: 3", "    poll: 3"), 15, "unknown key 'poll'"),  # http steps only
        (
            ("json: {status: ok}}", "json: {status: ok}}\n    poll: soon"),
            19,
            "expected a number of seconds, got 'soon'",
        ),
        (
            ("  - wait: 0.1", "  - roster decides: {allowed: true}"),
            22,
            "is a roster backend; this step needs a muc_auth backend",
        ),
    ],
)
def test_an_invalid_scenario_is_rejected_with_file_line_and_reason(
    scenario_file, change, line, message
):
    old, new = change
    assert old in VALID
    path = scenario_file("bad.yaml", VALID.replace(old, new, 1))
    with pytest.raises(ScenarioError) as failure:
        load_scenario(path)
    assert failure.value.file == str(path)
    assert failure.value.line == line, str(failure.value)
    assert message in str(failure.value)
    assert str(failure.value).startswith(f"{path}:{line}: ")


def test_duplicate_keys_are_an_error_not_silently_merged(scenario_file):
    path = scenario_file("dup.yaml", VALID.replace("tags: [roster]", "tags: [roster]\ntags: [x]"))
    with pytest.raises(ScenarioError, match=r"dup.yaml:3: duplicate key 'tags'"):
        load_scenario(path)


def test_the_shipped_data_file_for_the_invalid_case_points_at_its_line():
    with pytest.raises(ScenarioError) as failure:
        load_scenario(DATA / "invalid_unknown_step.yaml")
    assert failure.value.line == 8
    assert "unknown step 'juliet whispers'" in str(failure.value)


def test_every_shipped_scenario_is_valid_against_the_published_schema():
    # The loader checks each scenario against the schema once its folder's defaults are
    # merged in and its cases filled in; files without either are checked as written too,
    # as an editor would.
    import yaml

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    files = [f for f in discover([str(REPO / "scenarios")]) if f.endswith((".yaml", ".yml"))]
    assert files
    for file in files:
        assert load_scenarios(file)
        with open(file) as text:
            document = yaml.safe_load(text)
        if "cases" not in document:
            validator.validate(document)


def test_discovery_skips_yaml_that_is_not_a_scenario(tmp_path, scenario_file):
    scenario_file("scenarios/a.yaml", VALID)
    scenario_file("scenarios/shared.yaml", "anchors:\n  x: 1\n")
    scenario_file(
        "scenarios/b.scs", "[Client] A\n\tjid: a@localhost\n\tpassword: p\n\nA connects\n"
    )
    found = discover([str(tmp_path / "scenarios")])
    assert [f.rsplit("/", 1)[-1] for f in found] == ["a.yaml", "b.scs"]


def test_expect_may_also_sit_under_the_request(scenario_file):
    path = scenario_file(
        "nested.yaml",
        VALID.replace("      json: [john]\n    expect:", "      json: [john]\n      expect:"),
    )
    step = load_scenario(path).steps[3]
    assert step.params["expect"] == {"status": 200, "json": {"status": "ok"}}
    assert step.params["request"] == {"json": ["john"]}
