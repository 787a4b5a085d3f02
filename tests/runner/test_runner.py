"""The runner's own logic on an in-memory fake target: verdicts, failure details, skips,
log checks, server reuse with isolation, parallelism, -x and -k, and the reports."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.cli import main
from harness.runner import FAILED, PASSED, SKIPPED, Runner, RunOptions, load_all
from harness.runner.json_report import report_dict
from harness.runner.junit import junit_tree

CHAT = """\
name: {name}
tags: [chat]
clients:
  john: {{jid: john@localhost, password: pw}}
  mary: {{jid: mary@localhost, password: pw}}
steps:
  - john connects
  - mary connects
  - john sends: <message to="${{mary.full_jid}}" type="chat"><body>{sent}</body></message>
  - mary receives: |
      <message from="${{john.full_jid}}" type="chat">
        <body>{expected}</body>
      </message>
    timeout: 0.3
"""


def chat(name: str, sent: str = "hi", expected: str = "hi") -> str:
    return CHAT.format(name=name, sent=sent, expected=expected)


def run(paths, targets=("fake",), **options):
    loaded = load_all([str(p) for p in paths], options.pop("keyword", None))
    seen = []
    report = Runner(RunOptions(list(targets), **options), seen.append).run(loaded)
    assert len(seen) == len(report.results)  # progress saw every result
    return report


def test_a_passing_scenario_passes(fake_target, scenario_file):
    report = run([scenario_file("ok.yaml", chat("ok"))])
    assert [r.status for r in report.results] == [PASSED]
    assert report.ok


def test_a_failure_names_the_step_its_line_and_shows_a_diff(fake_target, scenario_file):
    report = run([scenario_file("bad.yaml", chat("bad", sent="Good night", expected="Good day"))])
    result = report.results[0]
    assert result.status == FAILED
    assert result.step_line == 10
    assert result.step.startswith("mary receives")
    assert "text is 'Good night', expected 'Good day'" in result.message
    assert "-  <body>Good day</body>" in result.diff
    assert "+  <body>Good night</body>" in result.diff
    assert any("Authenticated as" in line for line in result.log_tail)
    assert not report.ok


def test_names_in_a_failure_are_the_scenario_s_own_not_the_renamed_ones(fake_target, scenario_file):
    result = run([scenario_file("bad.yaml", chat("bad", sent="a", expected="b"))]).results[0]
    assert "john@localhost/" in result.diff
    assert "_s1" not in result.diff + "\n".join(result.log_tail)


def test_a_step_the_target_cannot_do_is_a_skip_with_the_reason(fake_target, scenario_file):
    path = scenario_file(
        "skip.yaml",
        """\
        name: uses something the fake lacks
        steps:
          - http GET /unsupported:
            expect: {status: 200}
        """,
    )
    result = run([path]).results[0]
    assert result.status == SKIPPED
    assert "fake cannot do this: the fake target has no such thing" in result.message


def test_an_error_in_the_prosody_log_fails_the_scenario_unless_allowed(fake_target, scenario_file):
    body = """\
        name: {name}
        steps:
          - http GET /log-error:
            expect: {{status: 200}}
        """
    noisy = scenario_file("noisy.yaml", body.format(name="noisy"))
    allowed = scenario_file("allowed.yaml", body.format(name="allowed") + "allow_log: [broke]\n")
    results = {r.name: r for r in run([noisy, allowed]).results}
    assert results["noisy"].status == FAILED
    assert "unexpected error line" in results["noisy"].message
    assert "something broke" in results["noisy"].message
    assert results["allowed"].status == PASSED


def test_http_expectations_check_status_headers_and_json_subset(fake_target, scenario_file):
    path = scenario_file(
        "http.yaml",
        """\
        name: echo
        steps:
          - http POST /echo:
              json: {a: 1}
              auth: [admin@localhost, secret]
            expect:
              status: 200
              headers: {Content-Type: application/json}
              json:
                method: POST
                headers: {Authorization: "Basic YWRtaW5AbG9jYWxob3N0OnNlY3JldA=="}
          - http POST /echo:
              body: hello
            expect: {json: {body: goodbye}}
        """,
    )
    result = run([path], reuse=False).results[0]
    assert result.status == FAILED
    assert result.step_line == 12
    assert '$.body: expected "goodbye", got "hello"' in result.message
    assert '-  "body": "goodbye"' in result.diff and '+  "body": "hello"' in result.diff


SHARED = """\
name: {name}
prosody:
  options: {{http_roster_url: "${{web.url}}/contacts/%s"}}
backends:
  web: {{kind: roster, rosters: {{john: {{"{contact}@localhost": {{name: Friend}}}}}}}}
clients:
  john: {{jid: john@localhost, password: {password}}}
steps:
  - john connects
  - http GET /roster/john:
    expect: {{status: 200, json: {{"{contact}@localhost": {{name: Friend}}}}}}
  - web received: {{count: 1, last: {{method: GET, path: /contacts/john}}}}
"""


def test_scenarios_with_one_profile_share_a_server_yet_keep_their_own_state(
    fake_target, scenario_file
):
    paths = [
        scenario_file(f"s{i}.yaml", SHARED.format(name=f"s{i}", contact=f"c{i}", password=f"pw{i}"))
        for i in range(3)
    ]
    report = run(paths, workers=1)
    assert [r.status for r in report.results] == [PASSED] * 3, report.results
    assert report.servers_started == {"fake": 1}
    [server] = fake_target.instances
    # Each scenario had its own "john" (with its own password) and its own fresh backend
    # (one request in its journal, its own roster) on the server's one backend URL.
    johns = sorted(jid for jid in server.accounts if jid.startswith("john"))
    assert len(johns) == 3 and all("_s" in jid for jid in johns)
    assert all(r.shared_server for r in report.results)


def test_without_reuse_every_scenario_gets_a_fresh_server_and_its_names_as_written(
    fake_target, scenario_file
):
    paths = [
        scenario_file(f"s{i}.yaml", SHARED.format(name=f"s{i}", contact=f"c{i}", password="pw"))
        for i in range(3)
    ]
    report = run(paths, workers=1, reuse=False)
    assert [r.status for r in report.results] == [PASSED] * 3
    assert report.servers_started == {"fake": 3}
    assert all(set(t.accounts) == {"john@localhost"} for t in fake_target.instances)


def test_independent_scenarios_run_in_parallel(fake_target, scenario_file):
    paths = [scenario_file(f"w{i}.yaml", f"name: w{i}\nsteps:\n  - wait: 0.4\n") for i in range(4)]
    started = time.monotonic()
    report = run(paths, workers=4)
    assert report.ok and len(report.results) == 4
    assert time.monotonic() - started < 1.2  # 4 x 0.4 s one after another would be 1.6 s


def test_exitfirst_stops_after_the_first_failure(fake_target, scenario_file):
    paths = [
        scenario_file("a.yaml", chat("a", "x", "y")),
        scenario_file("b.yaml", chat("b")),
        scenario_file("c.yaml", chat("c")),
    ]
    report = run(paths, workers=1, stop_on_failure=True)
    assert [r.name for r in report.results] == ["a"]
    assert report.not_run == 2 and not report.ok


def test_keyword_selects_by_name_path_and_tag(fake_target, scenario_file):
    paths = [
        scenario_file("roster/one.yaml", chat("first one")),
        scenario_file("other/two.yaml", chat("second one")),
    ]
    assert [r.name for r in run(paths, keyword="roster").results] == ["first one"]
    assert [r.name for r in run(paths, keyword="one and not first").results] == ["second one"]
    assert len(run(paths, keyword="chat").results) == 2


def test_differing_verdicts_across_targets_are_reported(fake_target, scenario_file, monkeypatch):
    from harness import targets

    monkeypatch.setitem(targets.TARGETS, "fake_strict", "runner_fake_target:StrictFakeTarget")
    path = scenario_file(
        "echo.yaml",
        """\
        name: echo answers
        steps:
          - http GET /echo:
            expect: {status: 200}
        """,
    )
    report = run([path], targets=("fake", "fake_strict"))
    assert [(d.scenario_id.split("::")[1], d.verdicts) for d in report.disagreements] == [
        ("echo answers", {"fake": "passed", "fake_strict": "failed"})
    ]
    assert not report.ok


def test_junit_xml_and_json_reports_carry_the_failure(fake_target, scenario_file):
    report = run(
        [scenario_file("ok.yaml", chat("ok")), scenario_file("bad.yaml", chat("bad", "a", "b"))]
    )
    root = ET.fromstring(ET.tostring(junit_tree(report).getroot()))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    [suite] = root.findall("testsuite")
    failure = suite.find("testcase[@name='bad']/failure")
    assert failure is not None and failure.get("message").endswith(
        "bad.yaml:10: mary received nothing matching the expected stanza within 0.3 s; "
        "1 other stanza(s) arrived, the closest differs: /message/body: text is 'a', "
        "expected 'b'"
    )
    assert "+  <body>a</body>" in failure.text
    data = json.loads(json.dumps(report_dict(report)))
    assert data["summary"]["failed"] == 1 and data["ok"] is False
    assert {r["name"]: r["status"] for r in data["results"]} == {"ok": "passed", "bad": "failed"}


def test_cli_exit_status_reports_and_failure_text(fake_target, scenario_file, tmp_path, capsys):
    good = scenario_file("good/ok.yaml", chat("ok"))
    bad = scenario_file("bad/bad.yaml", chat("bad", "a", "b"))
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    assert main(["run", str(good.parent), "--target", "fake", "--no-colour"]) == 0
    status = main(
        [
            "run",
            str(good.parent),
            str(bad),
            "--target",
            "fake",
            "--junit",
            str(junit),
            "--json",
            str(report),
            "--no-colour",
        ]
    )
    out = capsys.readouterr().out
    assert status == 1
    assert f"step {bad}:10: mary receives" in out
    assert "-  <body>b</body>" in out and "+  <body>a</body>" in out
    assert "1 passed, 1 failed" in out
    assert ET.parse(junit).getroot().get("failures") == "1"
    assert json.loads(report.read_text())["summary"]["passed"] == 1


def test_cli_rejects_an_invalid_scenario_with_file_and_line(fake_target, capsys):
    path = Path(__file__).parent / "data" / "invalid_unknown_step.yaml"
    assert main(["run", str(path), "--target", "fake", "--no-colour"]) == 1
    out = capsys.readouterr().out
    assert f"{path}:8: unknown step 'juliet whispers'" in out


@pytest.mark.parametrize(
    "argv, says",
    [
        (["-k", "and"], "-k"),
        (["--modules", "/nonexistent"], "--modules /nonexistent: no such directory"),
        (["--prosody", "14"], "--prosody '14': give 0.12 or 13 or the path"),
    ],
)
def test_cli_bad_arguments_exit_2(fake_target, argv, says, scenario_file, capsys):
    path = scenario_file("ok.yaml", chat("ok"))
    assert main(["run", str(path), "--target", "fake", *argv]) == 2
    assert says in capsys.readouterr().err


def test_run_with_no_path_outside_a_project_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no scenarios/ here
    assert main(["run", "--target", "sandbox"]) == 2
    err = capsys.readouterr().err
    assert "scenarios: no such file or folder" in err
    assert "with no PATH it runs ./scenarios" in err


def test_with_several_targets_one_that_cannot_start_is_reported_once_as_unavailable(
    fake_target, scenario_file, monkeypatch
):
    from harness import targets

    monkeypatch.setitem(targets.TARGETS, "fake_broken", "runner_fake_target:BrokenFakeTarget")
    paths = [scenario_file(f"{n}.yaml", chat(n)) for n in ("a", "b")]
    report = run(paths, targets=("fake", "fake_broken"))
    assert [(r.target, r.status) for r in report.results] == [("fake", PASSED)] * 2
    assert report.unavailable == {"fake_broken": "it did not start: no engine here"}
    assert report.ok and not report.disagreements


def test_a_single_target_that_cannot_start_exits_2_with_one_reason(
    fake_target, scenario_file, monkeypatch, capsys
):
    from harness import targets

    monkeypatch.setitem(targets.TARGETS, "fake_broken", "runner_fake_target:BrokenFakeTarget")
    paths = [scenario_file(f"{n}.yaml", chat(n)) for n in ("a", "b")]
    assert main(["run", *map(str, paths), "--target", "fake_broken", "--no-colour"]) == 2
    out = capsys.readouterr().out
    assert out.count("no engine here") == 1
    assert "not available" in out


def test_with_several_targets_a_profile_that_does_not_start_fails_its_scenario_only(
    fake_target, scenario_file, monkeypatch
):
    # The target itself works (a default server starts), so this is the scenario's own
    # failure, not a missing target: it must not hide the target's other results.
    from harness import targets

    monkeypatch.setitem(targets.TARGETS, "fake_strict", "runner_fake_target:StrictFakeTarget")
    refused = chat("refused").replace(
        "tags:", "prosody: {global: {fake_refuse_start: true}}\ntags:"
    )
    paths = [scenario_file("a_refused.yaml", refused), scenario_file("b_ok.yaml", chat("ok"))]
    report = run(paths, targets=("fake", "fake_strict"), workers=1)
    assert sorted((r.name, r.target, r.status) for r in report.results) == [
        ("ok", "fake", PASSED),
        ("ok", "fake_strict", PASSED),
        ("refused", "fake", "error"),
        ("refused", "fake_strict", "error"),
    ]
    assert "fake_refuse_start is set" in report.results[0].message
    assert not report.unavailable and not report.ok


def test_an_http_step_with_poll_repeats_until_the_expectation_holds(fake_target, scenario_file):
    steps = """\
        name: {name}
        steps:
          - http GET /count:
            expect: {{body: "{wanted}"}}
            poll: {poll}
        """
    ok = scenario_file("ok.yaml", steps.format(name="ok", wanted=3, poll=2))
    late = scenario_file("late.yaml", steps.format(name="late", wanted=10**6, poll=0.2))
    report = run([ok, late], reuse=False)
    results = {r.name: r for r in report.results}
    assert results["ok"].status == PASSED
    assert results["late"].status == FAILED and results["late"].message == "HTTP body differs"
    assert 0.2 <= results["late"].duration < 1.5  # bounded by poll:


@pytest.mark.parametrize("no_color, painted", [(None, True), ("1", False), ("", True)])
def test_a_terminal_gets_colours_unless_no_color_is_set(monkeypatch, no_color, painted):
    import io

    from harness.runner.terminal import TerminalReport

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)  # https://no-color.org: set and not empty
    assert TerminalReport(Terminal()).colour is painted
