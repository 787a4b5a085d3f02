"""`prosody-harness mock ...` as a developer runs it: a subprocess on a free port."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


class MockProcess:
    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "mock", *args, "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        first = self.process.stdout.readline()
        match = LISTENING.search(first)
        if match is None:
            self.process.kill()
            raise AssertionError(f"no listening line: {first!r} {self.process.stderr.read()}")
        self.url = match.group(1)

    def read_line(self) -> str:
        return self.process.stdout.readline().rstrip("\n")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=5)
        finally:
            self.process.stdout.close()
            self.process.stderr.close()


@pytest.fixture
def run_mock():
    started: list[MockProcess] = []

    def start(*args: str) -> MockProcess:
        started.append(MockProcess(*args))
        return started[-1]

    yield start
    for mock in started:
        if mock.process.poll() is None:
            mock.process.kill()
            mock.process.wait(5)


def test_roster_from_a_yaml_file_with_a_live_journal(run_mock, tmp_path: Path):
    data = tmp_path / "rosters.yaml"
    data.write_text("rosters:\n  john:\n    marie@localhost: {name: Marie}\n")
    mock = run_mock("roster", "--data", str(data))
    answer = requests.get(f"{mock.url}/contacts/john", timeout=5)
    assert answer.json() == {"marie@localhost": {"name": "Marie"}}
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} GET /contacts/john -> 200", mock.read_line())
    assert mock.stop(signal.SIGINT) == 0


def test_muc_auth_from_a_json_file(run_mock, tmp_path: Path):
    data = tmp_path / "auth.json"
    data.write_text(json.dumps({"default": {"allowed": False, "error": "not invited"}}))
    mock = run_mock("muc-auth", "--data", str(data))
    answer = requests.get(mock.url, params={"userJID": "a@b", "mucJID": "r@c"}, timeout=5)
    assert answer.json() == {"allowed": False, "error": "not invited"}
    assert "GET /?userJID=a@b&mucJID=r@c -> 200" in mock.read_line()
    assert mock.stop() == 0


def test_rest_callback_prints_bodies_and_json_lines(run_mock):
    mock = run_mock("rest-callback", "--json")
    requests.post(
        f"{mock.url}/hook",
        data=b"<message><body>hi</body></message>",
        headers={"Content-Type": "application/xmpp+xml"},
        timeout=5,
    )
    entry = json.loads(mock.read_line())
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", "/hook", 202)
    assert entry["body"] == "<message><body>hi</body></message>"
    assert mock.stop() == 0


def test_control_api_of_the_standalone_mock(run_mock):
    mock = run_mock("roster", "--quiet")
    requests.put(f"{mock.url}/_mock/rosters/john", json={"a@localhost": {}}, timeout=5)
    assert requests.get(f"{mock.url}/contacts/john", timeout=5).json() == {"a@localhost": {}}
    assert (
        requests.get(f"{mock.url}/_mock/journal", timeout=5).json()[0]["path"] == "/contacts/john"
    )
    assert mock.stop() == 0


@pytest.mark.parametrize(
    "content, message",
    [
        ("rosters: [unclosed", "invalid YAML"),
        ("- just\n- a list\n", "expected a mapping at the top level"),
        ("rosterz: {}\n", "unknown key(s) rosterz"),
    ],
)
def test_bad_data_file_exits_2_with_a_message(tmp_path: Path, content, message):
    data = tmp_path / "bad.yaml"
    data.write_text(content)
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "mock", "roster", "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_missing_data_file(tmp_path: Path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "mock",
            "roster",
            "--data",
            str(tmp_path / "absent.json"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_help_shows_each_kind_with_the_prosody_option_that_points_at_it(capsys):
    from harness.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["mock", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text
    for example in ("http_roster_url", "muc_http_auth_url", "rest_callback_url", "/_mock/"):
        assert example in text
