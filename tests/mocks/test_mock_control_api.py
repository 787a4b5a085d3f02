"""The /_mock/ control API: drive any backend over HTTP, bad input gets 400 with a message."""

from __future__ import annotations

import pytest
import requests
import yaml

MARIE = {"marie@localhost": {"name": "Marie"}}


def control(backend, method, path, **kwargs):
    return requests.request(method, f"{backend.url}/_mock/{path}", timeout=5, **kwargs)


@pytest.mark.parametrize("kind", ["roster", "muc_auth", "rest_callback"])
def test_describe_and_openapi(mock_backend, kind):
    backend = mock_backend(kind)
    assert control(backend, "GET", "").json()["kind"] == kind
    document = yaml.safe_load(control(backend, "GET", "openapi.yaml").text)
    assert document["openapi"].startswith("3.")


@pytest.mark.parametrize("kind", ["roster", "muc_auth", "rest_callback"])
def test_journal_read_and_clear(mock_backend, kind):
    backend = mock_backend(kind)
    requests.get(f"{backend.url}/contacts/john?x=1&x=2&y=", timeout=5)
    [entry] = control(backend, "GET", "journal").json()
    assert entry["method"] == "GET"
    assert entry["query"] == {"x": ["1", "2"], "y": ""}
    assert entry["headers"]["User-Agent"].startswith("python-requests")
    assert isinstance(entry["time"], float)
    assert control(backend, "DELETE", "journal").status_code == 200
    assert control(backend, "GET", "journal").json() == []
    assert backend.journal() == []


def test_control_requests_are_not_journaled(roster_backend):
    control(roster_backend, "GET", "rosters")
    assert roster_backend.journal() == []


def test_faults_over_http(roster_backend):
    created = control(
        roster_backend, "POST", "faults", json={"path": "/contacts/*", "status": 503, "times": 1}
    )
    assert created.status_code == 201
    assert created.json() == [{"path": "/contacts/*", "status": 503, "times": 1, "remaining": 1}]
    assert requests.get(f"{roster_backend.url}/contacts/x", timeout=5).status_code == 503
    assert control(roster_backend, "GET", "faults").json() == []


def test_roster_state_over_http(roster_backend, httpserver):
    assert control(roster_backend, "PUT", "rosters/john", json=MARIE).json() == MARIE
    assert requests.get(f"{roster_backend.url}/contacts/john", timeout=5).json() == MARIE
    assert control(roster_backend, "GET", "rosters").json() == {"john": MARIE}
    assert control(roster_backend, "GET", "rosters/nobody").status_code == 404
    httpserver.expect_request("/refresh").respond_with_json(
        {"status": "ok", "updated": 2, "errors": 0}
    )
    settings = control(
        roster_backend,
        "PATCH",
        "settings",
        json={"refresh_url": httpserver.url_for("/refresh"), "unknown_user": "404"},
    ).json()
    assert settings["unknown_user"] == "404"
    answer = control(
        roster_backend,
        "POST",
        "befriend",
        json={"users": ["john", "aaron"], "names": {"aaron": "Aaron"}},
    ).json()
    assert answer["refresh"]["json"]["updated"] == 2
    assert roster_backend.get_roster("john")["aaron@localhost"] == {"name": "Aaron"}
    notified = control(roster_backend, "POST", "notify", json={"users": ["john"]}).json()
    assert notified["refresh"]["status"] == 200
    assert len(control(roster_backend, "GET", "refresh_answers").json()) == 2
    assert control(roster_backend, "DELETE", "rosters/john").status_code == 200
    assert requests.get(f"{roster_backend.url}/contacts/john", timeout=5).status_code == 404


def test_muc_auth_state_over_http(muc_auth_backend):
    query = {"userJID": "romeo@example.com", "mucJID": "teaparty@rooms.example.com"}
    rule = {"room": "teaparty", "allowed": False, "error": "closed"}
    assert control(muc_auth_backend, "POST", "rules", json=rule).status_code == 201
    assert requests.get(muc_auth_backend.url, params=query, timeout=5).json()["error"] == "closed"
    control(muc_auth_backend, "DELETE", "rules")
    control(muc_auth_backend, "PUT", "default", json={"allowed": False, "error": "nope"})
    assert requests.get(muc_auth_backend.url, params=query, timeout=5).json() == {
        "allowed": False,
        "error": "nope",
    }
    control(muc_auth_backend, "PUT", "authorization", json={"value": "Bearer abc"})
    assert requests.get(muc_auth_backend.url, params=query, timeout=5).status_code == 401


def test_rest_callback_state_over_http(rest_callback_backend, httpserver):
    url = rest_callback_backend.url
    control(
        rest_callback_backend,
        "POST",
        "rules",
        json={"match": {"body": "ping"}, "reply": {"body": "pong"}},
    )
    control(rest_callback_backend, "PUT", "default_status", json={"status": 204})
    assert requests.post(url, json={"kind": "message", "body": "ping"}, timeout=5).json() == {
        "body": "pong"
    }
    assert requests.post(url, json={"kind": "message", "body": "x"}, timeout=5).status_code == 204
    requests.post(
        url,
        data=b"<message><body>xml</body></message>",
        headers={"Content-Type": "application/xmpp+xml"},
        timeout=5,
    )
    received = control(rest_callback_backend, "GET", "received").json()
    assert received[:2] == [{"kind": "message", "body": "ping"}, {"kind": "message", "body": "x"}]
    assert "<body>xml</body>" in received[2]
    httpserver.expect_request("/rest").respond_with_data("", status=202)
    sent = control(
        rest_callback_backend,
        "POST",
        "send",
        json={
            "stanza": "<message to='a@localhost'><body>hi</body></message>",
            "rest_url": httpserver.url_for("/rest"),
            "auth": ["bot", "pw"],
        },
    )
    assert sent.status_code == 200 and sent.json()["status"] == 202
    unreachable = control(
        rest_callback_backend,
        "POST",
        "send",
        json={"stanza": {"kind": "message"}, "rest_url": "http://127.0.0.1:9/rest"},
    )
    assert unreachable.status_code == 502


BAD_INPUT = [
    ("roster", "POST", "faults", {"data": "{oops"}, "malformed JSON body"),
    ("roster", "POST", "faults", {"data": ""}, "expected a JSON body"),
    ("roster", "POST", "faults", {"json": [1]}, "expected a mapping"),
    ("roster", "POST", "faults", {"json": {"drop": 1}}, "drop: expected true or false"),
    ("roster", "PUT", "rosters/john", {"json": {"m@l": {"name": 1}}}, "expected a string"),
    ("roster", "POST", "befriend", {"json": {"users": ["a"]}}, "exactly two"),
    ("roster", "POST", "befriend", {"json": {"users": "a,b"}}, "expected a list"),
    ("roster", "POST", "notify", {"json": {"users": ["a"]}}, "no refresh_url"),
    ("roster", "PATCH", "settings", {"json": {"unknown_user": "x"}}, "expected one of"),
    ("roster", "PATCH", "settings", {"json": {"domain": "x"}}, "unknown key(s) domain"),
    ("muc_auth", "POST", "rules", {"json": {"room": "x"}}, "'allowed'"),
    ("muc_auth", "PUT", "default", {"json": {"error": "x"}}, "'allowed'"),
    ("muc_auth", "PUT", "authorization", {"json": {"value": 1}}, "expected a string"),
    ("rest_callback", "POST", "rules", {"json": {"match": {"x": "1"}}}, "unknown key(s) x"),
    ("rest_callback", "PUT", "default_status", {"json": {"status": 1000}}, "HTTP status"),
    ("rest_callback", "POST", "send", {"json": {"stanza": 1, "rest_url": "x"}}, "send.stanza"),
    ("rest_callback", "POST", "send", {"json": {"stanza": "<a/>"}}, "send.rest_url"),
    (
        "rest_callback",
        "POST",
        "send",
        {"json": {"stanza": "<a/>", "rest_url": "http://x", "auth": [1, 2]}},
        "send.auth",
    ),
]


@pytest.mark.parametrize("kind, method, path, kwargs, message", BAD_INPUT)
def test_bad_control_input_gets_400_with_a_message(
    mock_backend, kind, method, path, kwargs, message
):
    backend = mock_backend(kind)
    response = control(backend, method, path, **kwargs)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


@pytest.mark.parametrize("kind", ["roster", "muc_auth", "rest_callback"])
def test_unknown_control_route_is_a_json_error(mock_backend, kind):
    response = control(mock_backend(kind), "GET", "no-such-thing")
    assert response.status_code in (404, 405)  # 405: rest_callback's webhook takes only POST
    assert "error" in response.json()
