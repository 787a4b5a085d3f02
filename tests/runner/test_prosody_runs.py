"""End to end on Debian's real prosody: the CLI, the pytest plugin, reports, isolation."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.cli import main
from harness.runner import PASSED, Runner, RunOptions, load_all

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.prosody
CORE = REPO / "scenarios" / "core"
PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]


def test_core_scenarios_pass_through_the_cli_with_junit_a_ci_can_read(tmp_path, capsys):
    junit = tmp_path / "junit.xml"
    status = main(["run", str(CORE), "--target", "prosody", "--junit", str(junit), "--no-colour"])
    out = capsys.readouterr().out
    assert status == 0, out
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "0", "0")
    cases = root.findall("testsuite/testcase")
    assert {c.get("classname") for c in cases} == {str(CORE).replace("/", ".").strip(".")}
    assert all(float(c.get("time")) > 0 for c in cases)


def test_a_failing_scenario_shows_step_line_diff_and_log_and_exits_1(capsys):
    path = DATA / "failing_message_body.yaml"
    status = main(["run", str(path), "--target", "prosody", "--no-colour"])
    out = capsys.readouterr().out
    assert status == 1
    assert f"step {path}:10: juliet receives" in out
    assert "-  <body>Good morning</body>" in out
    assert "+  <body>Good night</body>" in out
    assert "lines of the Prosody log:" in out and "Authenticated as romeo@localhost" in out


ADDS = """\
name: alice adds bob to her roster
clients:
  alice: {jid: alice@localhost, password: one}
steps:
  - alice connects
  - alice sends: |
      <iq type="set" id="a1">
        <query xmlns="jabber:iq:roster"><item jid="bob@localhost"/></query>
      </iq>
  - alice receives: <iq type="result" id="a1"/>
"""
LOOKS_FOR_BOB = """\
name: another alice looks for bob in her roster
clients:
  alice: {jid: alice@localhost, password: two}
steps:
  - alice connects
  - alice sends: <iq type="get" id="g1"><query xmlns="jabber:iq:roster"/></iq>
  - alice receives: |
      <iq type="result" id="g1">
        <query xmlns="jabber:iq:roster"><item jid="bob@localhost"/></query>
      </iq>
    timeout: 0.5
"""


def test_scenarios_sharing_a_server_do_not_see_each_other_s_state(tmp_path):
    (tmp_path / "a_adds.yaml").write_text(ADDS)
    (tmp_path / "b_looks.yaml").write_text(LOOKS_FOR_BOB)
    report = Runner(RunOptions(["prosody"], workers=1)).run(load_all([str(tmp_path)]))
    assert report.servers_started == {"prosody": 1}  # one server for both
    adds, looks = report.results
    assert adds.status == PASSED
    # The second scenario's alice is a fresh account: bob, added by the first, is absent.
    assert looks.status == "failed"
    assert "no child <item>" in looks.message


def test_rooms_named_by_options_work_on_a_shared_server(tmp_path):
    # muc_http_auth_enabled_for: [tea, board] names rooms; the rooms stay "tea" and
    # "board" for every scenario on the server, while the users and coffee get renamed.
    folder = REPO / "scenarios/muc_http_auth"
    source = (folder / "enabled_for_list.yaml").read_text()
    assert "shared_server" not in source
    shutil.copy(folder / "defaults.yaml", tmp_path)
    for copy in ("one", "two"):
        (tmp_path / f"{copy}.yaml").write_text(source.replace("name: ", f"name: {copy} ", 1))
    report = Runner(RunOptions(["prosody"], workers=1)).run(load_all([str(tmp_path)]))
    assert report.servers_started == {"prosody": 1}
    assert [(r.status, r.shared_server) for r in report.results] == [(PASSED, True)] * 2, [
        r.message for r in report.results
    ]


def test_pytest_collects_and_runs_scenario_files(tmp_path):
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    ok = subprocess.run(
        [*PYTEST, str(CORE), "--target", "prosody"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "5 passed" in ok.stdout
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    shutil.copy(DATA / "failing_message_body.yaml", scenarios)
    shutil.copy(DATA / "invalid_unknown_step.yaml", scenarios)
    (scenarios / "not_a_scenario.yaml").write_text("some: config\n")
    bad = subprocess.run(
        [*PYTEST, str(scenarios), "--target", "prosody", "-rA"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1
    assert "2 failed" in bad.stdout  # the YAML that is not a scenario is not collected
    assert "failing_message_body.yaml:10: juliet receives" in bad.stdout
    assert "+  <body>Good night</body>" in bad.stdout
    assert "invalid_unknown_step.yaml:8: unknown step 'juliet whispers'" in bad.stdout


def test_pytest_fixtures_give_targets_clients_and_backends(tmp_path):
    (tmp_path / "test_uses_fixtures.py").write_text(
        textwrap.dedent("""\
        import requests
        from harness.stanza import parse

        def test_message_and_backend(prosody_target, xmpp_client, roster_backend):
            target = prosody_target()
            assert target.name == "prosody"
            romeo = xmpp_client(target, "romeo@localhost", "pw")
            juliet = xmpp_client(target, "juliet@localhost", "pw")
            romeo.send(parse(f'<message to="{juliet.jid}"><body>hi</body></message>'))
            got = juliet.receive(timeout=2)
            assert got.findtext("{jabber:client}body") == "hi"
            roster_backend.set_roster("romeo", {"juliet@localhost": {"name": "J"}})
            assert requests.get(roster_backend.url + "/contacts/romeo", timeout=5).json()
        """)
    )
    done = subprocess.run(
        [*PYTEST, str(tmp_path), "--target", "prosody"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
