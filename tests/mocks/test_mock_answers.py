"""Canned answers in place of a backend's own logic, and a mock's own failures surfaced."""

from __future__ import annotations

import time

import pytest
import requests

from mock_backends import start_backend
from mock_backends.base import MockHandlerError


def test_a_canned_answer_replaces_the_backend_s_own_with_a_sniffed_content_type():
    with start_backend("muc_auth", {"answers": [{"status": 200, "body": '{"allowed": 1}'}]}) as b:
        got = requests.get(b.url + "/can-join", params={"userJID": "a@b", "mucJID": "r@c"})
        assert (got.status_code, got.text) == (200, '{"allowed": 1}')
        assert got.headers["Content-Type"] == "application/json"  # the body is JSON
        b.clear_answers()
        b.add_answer(body="<html>down</html>", status=503)
        got = requests.get(b.url + "/can-join", params={"userJID": "a@b", "mucJID": "r@c"})
        assert got.status_code == 503 and got.headers["Content-Type"].startswith("text/plain")
        assert b.journal()[-1]["answer"] == {"status": 503, "body": "<html>down</html>"}


def test_answers_match_path_and_method_count_their_uses_and_follow_faults():
    with start_backend("roster", {"rosters": {"john": {"m@x": {"name": "M"}}}}) as roster:
        roster.add_answer(path="/contacts/j*", method="GET", json=["not", "a", "roster"], times=1)
        roster.add_fault(path="/contacts/john", latency=0.3, times=1)
        started = time.monotonic()
        first = requests.get(roster.url + "/contacts/john")
        assert time.monotonic() - started >= 0.3  # the fault's latency, then the answer
        assert first.json() == ["not", "a", "roster"]
        assert requests.get(roster.url + "/contacts/john").json() == {"m@x": {"name": "M"}}
        assert roster.answers() == []


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"status": 99}, "status"),
        ({"body": "x", "json": {}}, "body or json"),
        ({"path": "nope"}, "path"),
        ({"colour": "red"}, "unknown key"),
    ],
)
def test_a_bad_answer_is_refused_with_its_key(bad, message):
    with pytest.raises(ValueError, match=message):
        start_backend("roster", {"answers": [bad]})


def test_a_failure_of_the_mock_s_own_code_is_kept_and_raised_on_check(monkeypatch):
    with start_backend("roster", {}) as roster:

        def broken(**arguments):
            raise KeyError("a bug in the mock")

        monkeypatch.setitem(roster.app.view_functions, "roster", broken)
        got = requests.get(roster.url + "/contacts/john")
        assert got.status_code == 500
        assert "a bug in the mock" in roster.handler_errors()[0]
        with pytest.raises(MockHandlerError, match="failed while answering 1 request"):
            roster.check_handler_errors()
        control = requests.get(roster.url + "/_mock/handler-errors").json()
        assert "KeyError" in control[0]
