"""A folder's defaults.yaml under each of its scenarios, and cases: as separate scenarios."""

from __future__ import annotations

import pytest

from harness.runner import Runner, RunOptions, load_all
from harness.scenario import ScenarioError, load_scenarios

DEFAULTS = """\
tags: [muc]
prosody:
  components:
    rooms.localhost:
      module: muc
      options: {muc_http_auth_url: "${auth.url}/can-join", muc_room_locking: false}
backends:
  auth: {kind: muc_auth}
clients:
  alice: {jid: alice@localhost, password: pw}
"""


def test_a_scenario_is_merged_over_its_folder_s_defaults(scenario_file):
    scenario_file("suite/defaults.yaml", DEFAULTS)
    path = scenario_file(
        "suite/one.yaml",
        """\
        name: one
        tags: [cache]
        prosody:
          components:
            rooms.localhost:
              options: {muc_http_auth_cache_ttl: 60, muc_room_locking: null}
        backends:
          auth: {faults: [{latency: 0.1}]}
        steps: [alice connects]
        """,
    )
    (scenario,) = load_scenarios(path)
    room = scenario.prosody["components"]["rooms.localhost"]
    assert room["module"] == "muc"
    assert room["options"] == {
        "muc_http_auth_url": "${auth.url}/can-join",
        "muc_http_auth_cache_ttl": 60,
    }  # added to, and one default taken away with null
    assert scenario.backends["auth"].kind == "muc_auth"
    assert scenario.backends["auth"].config == {"faults": [{"latency": 0.1}]}
    assert scenario.clients["alice"].password == "pw"
    assert scenario.tags == ["muc", "cache"]


def test_a_profile_with_hosts_replaces_the_one_host_shorthand(scenario_file):
    scenario_file("suite/defaults.yaml", "prosody: {modules_enabled: [a], options: {x: 1}}\n")
    path = scenario_file(
        "suite/two.yaml",
        "name: two\nprosody: {hosts: {localhost: {}, other.localhost: {}}}\nsteps: [wait: 0]\n",
    )
    assert load_scenarios(path)[0].prosody == {"hosts": {"localhost": {}, "other.localhost": {}}}


def test_defaults_may_not_hold_what_makes_a_scenario_and_errors_name_their_file(scenario_file):
    scenario_file("suite/defaults.yaml", "tags: [x]\nsteps: [wait: 1]\n")
    path = scenario_file("suite/three.yaml", "name: three\nsteps: [wait: 0]\n")
    with pytest.raises(ScenarioError, match=r"defaults.yaml:2: steps: belongs in each scenario"):
        load_scenarios(path)
    scenario_file("suite/defaults.yaml", "backends:\n  auth: {kind: nope}\n")
    with pytest.raises(ScenarioError, match=r"defaults.yaml:2: backends.auth.kind"):
        load_scenarios(path)


CASES = """\
name: status
cases:
  - {id: teapot, status: 418, word: "short and stout"}
  - {status: 200, word: fine}
steps:
  - http GET /echo:
      headers: {X-Word: "${case.word}!"}
    expect: {status: "${case.status}"}
"""


def test_each_case_is_a_scenario_of_its_own_with_typed_values(scenario_file):
    first, second = load_scenarios(scenario_file("cases.yaml", CASES))
    assert (first.name, second.name) == ("status [teapot]", "status [2]")
    step = first.steps[0]
    assert step.params["expect"] == {"status": 418}  # the whole value: still a number
    assert step.params["request"]["headers"] == {"X-Word": "short and stout!"}


def test_a_case_missing_a_value_is_an_error_at_its_line(scenario_file):
    text = CASES.replace("{status: 200, word: fine}", "{status: 200}")
    with pytest.raises(ScenarioError, match=r":4: \$\{case.word\} is used, but this case has no"):
        load_scenarios(scenario_file("cases.yaml", text))


def test_cases_run_and_are_reported_one_by_one(scenario_file, fake_target):
    path = scenario_file(
        "cases.yaml",
        """\
        name: echo
        cases: [{id: a, want: 200}, {id: b, want: 500}]
        steps:
          - http GET /echo:
            expect: {status: "${case.want}"}
        """,
    )
    report = Runner(RunOptions(["fake"], workers=1)).run(load_all([str(path)]))
    verdicts = {result.name: result.status for result in report.results}
    assert verdicts == {"echo [a]": "passed", "echo [b]": "failed"}
