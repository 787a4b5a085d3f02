"""A mock backend whose own code fails while answering voids the scenario's verdict: the
result is an error naming the mock and its traceback, never a pass or a plain failure."""

from __future__ import annotations

from harness.runner import Runner, RunOptions, load_all
from mock_backends.roster import RosterBackend


def test_a_mock_bug_makes_the_scenario_an_error(scenario_file, fake_target, monkeypatch):
    def broken(self, **arguments):
        raise RuntimeError("the mock tripped over its own feet")

    monkeypatch.setattr(RosterBackend, "_serve_roster", broken)
    path = scenario_file(
        "roster.yaml",
        """\
        name: the fake server fetches john's roster
        prosody:
          options: {http_roster_url: "${roster.url}/contacts/%s"}
        backends:
          roster: {kind: roster}
        steps:
          # The fake target relays the backend's answer: a 500 here would pass.
          - http GET /roster/john:
            expect: {status: 500}
        """,
    )
    (result,) = Runner(RunOptions(["fake"], workers=1)).run(load_all([str(path)])).results
    assert result.status == "error"
    assert "mock backend 'roster' failed while answering a request" in result.message
    assert "the mock tripped over its own feet" in result.message
