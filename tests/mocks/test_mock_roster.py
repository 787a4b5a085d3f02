"""The roster web app: what mod_http_roster_admin fetches, and the refresh notifications."""

from __future__ import annotations

import json

import pytest
import requests

from mock_backends import start_backend

MARIE = {"marie@localhost": {"name": "Marie", "groups": ["Friends"]}}


def test_serves_the_users_roster_as_a_json_object(mock_backend):
    backend = mock_backend("roster", {"rosters": {"john": MARIE}})
    response = requests.get(f"{backend.url}/contacts/john", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == MARIE


def test_username_is_url_decoded(mock_backend):
    backend = mock_backend("roster", {"rosters": {"jörg o'brien": MARIE}})
    response = requests.get(f"{backend.url}/contacts/j%C3%B6rg%20o%27brien", timeout=5)
    assert response.json() == MARIE
    entry = backend.journal()[-1]
    assert entry["path"] == "/contacts/jörg o'brien"
    assert entry["raw_path"] == "/contacts/j%C3%B6rg%20o%27brien"


def test_unknown_user_is_empty_by_default(roster_backend):
    response = requests.get(f"{roster_backend.url}/contacts/nobody", timeout=5)
    assert (response.status_code, response.json()) == (200, {})


def test_unknown_user_can_be_404(mock_backend):
    backend = mock_backend("roster", {"unknown_user": "404"})
    assert requests.get(f"{backend.url}/contacts/nobody", timeout=5).status_code == 404


@pytest.mark.parametrize("pattern", ["/api/v1/users/<username>/roster", "/api/%s.json"])
def test_path_pattern_is_configurable(mock_backend, pattern):
    backend = mock_backend("roster", {"path": pattern, "rosters": {"john": MARIE}})
    url = backend.url + pattern.replace("<username>", "john").replace("%s", "john")
    assert requests.get(url, timeout=5).json() == MARIE
    assert requests.get(f"{backend.url}/contacts/john", timeout=5).status_code == 404


def test_roster_changes_at_run_time(roster_backend):
    roster_backend.set_roster("john", MARIE)
    assert requests.get(f"{roster_backend.url}/contacts/john", timeout=5).json() == MARIE
    assert roster_backend.get_roster("john") == MARIE
    assert roster_backend.get_roster("nobody") is None


def test_get_roster_returns_a_copy(roster_backend):
    roster_backend.set_roster("john", MARIE)
    roster_backend.get_roster("john")["marie@localhost"]["name"] = "changed"
    assert roster_backend.get_roster("john") == MARIE


def test_befriend_changes_both_rosters_and_notifies_prosody(mock_backend, httpserver):
    httpserver.expect_request("/roster_admin/refresh", method="POST").respond_with_json(
        {"status": "ok", "message": "roster update complete", "updated": 2, "errors": 0}
    )
    backend = mock_backend("roster", {"rosters": {"john": MARIE}})
    answer = backend.befriend(
        "john",
        "aaron",
        refresh_url=httpserver.url_for("/roster_admin/refresh"),
        names={"aaron": "Aaron", "john": "John"},
    )
    assert backend.get_roster("john") == {**MARIE, "aaron@localhost": {"name": "Aaron"}}
    assert backend.get_roster("aaron") == {"john@localhost": {"name": "John"}}
    request, _ = httpserver.log[0]
    assert json.loads(request.data) == ["john", "aaron"]
    assert request.headers["Content-Type"] == "application/json"
    assert answer["status"] == 200 and answer["json"]["updated"] == 2
    assert backend.refresh_answers() == [answer]


def test_befriend_uses_the_configured_refresh_url_and_domain(mock_backend, httpserver):
    httpserver.expect_request("/refresh").respond_with_json(
        {"status": "ok", "updated": 2, "errors": 0}
    )
    backend = mock_backend(
        "roster", {"refresh_url": httpserver.url_for("/refresh"), "domain": "example.org"}
    )
    answer = backend.befriend("john", "aaron")
    assert answer["json"]["status"] == "ok"
    assert backend.get_roster("john") == {"aaron@example.org": {"name": "aaron"}}


def test_befriend_without_refresh_url_only_changes_rosters(roster_backend):
    assert roster_backend.befriend("john", "aaron@other.example") is None
    assert roster_backend.get_roster("aaron") == {"john@localhost": {"name": "john"}}
    assert roster_backend.get_roster("john") == {"aaron@other.example": {"name": "aaron"}}


def test_notify_records_an_unreachable_prosody(roster_backend):
    answer = roster_backend.notify(["john"], refresh_url="http://127.0.0.1:9/refresh")
    assert answer["status"] is None and "ConnectionError" in answer["error"]
    assert roster_backend.refresh_answers() == [answer]


def test_notify_records_an_error_status(roster_backend, httpserver):
    httpserver.expect_request("/refresh").respond_with_data("bad body", status=400)
    answer = roster_backend.notify(["john"], refresh_url=httpserver.url_for("/refresh"))
    assert (answer["status"], answer["json"], answer["body"]) == (400, None, "bad body")


@pytest.mark.parametrize(
    "config, message",
    [
        ({"rosters": {"john": ["marie@localhost"]}}, "rosters['john']: expected a mapping"),
        ({"rosters": {"john": {"marie@localhost": {"name": 3}}}}, ".name: expected a string"),
        ({"rosters": {"john": {"m@l": {"groups": "Friends"}}}}, ".groups: expected a list"),
        ({"unknown_user": "ignore"}, "unknown_user: expected one of empty, 404"),
        ({"path": "/contacts"}, "placeholder <username>"),
        ({"path": "/a/<username>/<username>"}, "exactly once"),
        ({"rosterz": {}}, "unknown key(s) rosterz"),
        ({"kind": "muc_auth"}, "config is for kind 'muc_auth'"),
    ],
)
def test_bad_initial_state_is_refused_with_a_message(config, message):
    with pytest.raises(ValueError, match=None) as caught:
        start_backend("roster", config)
    assert message in str(caught.value)


def test_notify_goes_straight_to_prosody_whatever_proxy_the_environment_names(
    roster_backend, httpserver, monkeypatch
):
    # As Prosody's net.http, the mock takes no proxy from the environment: a CI machine's
    # HTTP_PROXY is for the outside world, not for the Prosody next to it.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    httpserver.expect_request("/refresh", method="POST").respond_with_json({"status": "ok"})
    answer = roster_backend.notify(["john"], refresh_url=httpserver.url_for("/refresh"))
    assert answer["status"] == 200, answer
