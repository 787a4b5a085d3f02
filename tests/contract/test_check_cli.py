"""The command as people and CI run it: help, usage errors, the terminal report, exit
statuses, and one run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.cli import build_parser, main


def test_help_teaches_with_examples(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["check", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "exit status:" in text
    for example in (
        "check roster 'http://127.0.0.1:8081/contacts/%s' --user john",
        "check muc-auth https://",
        "check webhook http://",
        "--allow-writes",
    ):
        assert example in text
    assert "check your own roster app" in build_parser().format_help()


@pytest.mark.parametrize(
    "args, message",
    [
        (["roster", "http://app.internal/contacts/"], "needs %s"),
        (["roster", "ftp://app.internal/%s"], "http:// or https://"),
        (["roster", "http://app.internal/%s", "--room", "a@b"], "--room is for muc-auth"),
        (["roster", "http://app.internal/%s", "--header", "no colon"], "'Name: value'"),
        (["roster", "http://app.internal/%s", "--timeout", "0"], "--timeout"),
        (["roster", "http://app.internal/%s", "--ca-file", "/nonexistent.pem"], "--ca-file"),
        (["roster", "http://app.internal/%s", "--user", "a b"], "not a valid Prosody username"),
        (["muc-auth", "http://app.internal", "--to", "x@y"], "--to is for webhook"),
    ],
)
def test_bad_usage_exits_2_and_says_why(capsys, args, message):
    assert main(["check", *args]) == 2
    assert message in capsys.readouterr().err


def test_an_unknown_kind_is_refused_by_argparse(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["check", "ldap", "http://x"])
    assert exited.value.code == 2


def test_the_terminal_report_of_a_failing_check(check, mock_backend):
    app = mock_backend("muc_auth", {"answers": [{"json": {"allowed": "false"}}]})
    run = check("muc-auth", app.url, "--user", "romeo@example.com", json_output=False)
    assert run.status == 1
    out = run.out
    assert out.startswith(f"check muc-auth {app.url}\nas mod_muc_http_auth calls it: GET")
    assert "timeout: 5 s (the module's default)" in out
    assert "probes:\n  user romeo@example.com" in out
    assert "VIOLATION [muc.allowed-not-boolean] user romeo@example.com, unknown user" in out
    assert "-> refused by our module" in out and "upstream: upstream admitted it" in out
    assert 'fix: send "allowed": false as a JSON boolean' in out
    assert out.rstrip().endswith("(exit status 1)")


def test_the_terminal_report_of_a_clean_check_and_strict(check, mock_backend):
    app = mock_backend(
        "roster",
        {
            "rosters": {"john": {"marie@localhost": {}}},
            "faults": [{"path": "/contacts/john", "latency": 0.3}],
        },
    )
    run = check(
        "roster", app.url + "/contacts/%s", "--user", "john", "--timeout", "0.5", json_output=False
    )
    assert run.status == 0
    assert "WARNING   [slow] user john: answered after 0.3" in run.out
    assert "note      [roster.contacts] user john: john has 1 contact(s), 1 usable" in run.out
    strict = check(
        "roster", app.url + "/contacts/%s", "--user", "john", "--timeout", "0.5", "--strict"
    )
    assert strict.status == 1 and strict.report["exit_status"] == 1


def test_an_unreachable_service_in_the_terminal(check, mock_backend):
    app = mock_backend("rest_callback", {})
    target = app.url + "/stanzas"
    app.stop()
    run = check("webhook", target, json_output=False)
    assert run.status == 2
    assert "UNREACHABLE: cannot reach" in run.out and "nothing was checked" in run.out


def test_as_a_process_for_ci(mock_backend):
    app = mock_backend("roster", {"unknown_user": "404"})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "check",
            "roster",
            app.url + "/contacts/%s",
            "--json",
            "--strict",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["kind"] == "roster" and report["exit_status"] == 1
    assert {"roster.unknown-user-status", "roster.no-user"} <= {
        f["code"] for f in report["findings"]
    }
