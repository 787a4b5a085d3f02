"""The MUC authorization endpoint mod_muc_http_auth asks before a join."""

from __future__ import annotations

import pytest
import requests

from mock_backends import start_backend


def ask(
    backend,
    user="romeo@example.com",
    room="teaparty@rooms.example.com",
    path="/",
    nickname=None,
    headers=None,
):
    params = {"userJID": user, "mucJID": room}
    if nickname is not None:
        params["nickname"] = nickname
    return requests.get(backend.url + path, params=params, headers=headers, timeout=5)


def test_allows_by_default(muc_auth_backend):
    response = ask(muc_auth_backend)
    assert response.status_code == 200
    assert response.json() == {"allowed": True, "error": ""}


def test_any_path_answers_and_the_question_is_journaled(muc_auth_backend):
    ask(muc_auth_backend, path="/users/can-join/", nickname="Romeo")
    entry = muc_auth_backend.journal()[-1]
    assert entry["path"] == "/users/can-join/"
    assert entry["query"] == {
        "userJID": "romeo@example.com",
        "mucJID": "teaparty@rooms.example.com",
        "nickname": "Romeo",
    }
    assert entry["status"] == 200


def test_default_can_deny(muc_auth_backend):
    muc_auth_backend.set_default(False, "members only")
    assert ask(muc_auth_backend).json() == {"allowed": False, "error": "members only"}


@pytest.mark.parametrize(
    "rule, user, room, allowed",
    [
        ({"room": "teaparty"}, "romeo@example.com", "teaparty@rooms.example.com", False),
        ({"room": "teaparty"}, "romeo@example.com", "library@rooms.example.com", True),
        (
            {"room": "teaparty@rooms.example.com"},
            "romeo@example.com",
            "TeaParty@rooms.example.com",
            False,
        ),
        (
            {"room": "teaparty@other.example"},
            "romeo@example.com",
            "teaparty@rooms.example.com",
            True,
        ),
        ({"user": "romeo@example.com"}, "romeo@example.com/balcony", "x@rooms.example.com", False),
        ({"user": "romeo"}, "romeo@elsewhere.example", "x@rooms.example.com", False),
        ({"user": "juliet"}, "romeo@example.com", "x@rooms.example.com", True),
        ({"domain": "example.com"}, "romeo@example.com", "x@rooms.example.com", False),
        ({"domain": "example.com"}, "romeo@example.org", "x@rooms.example.com", True),
        (
            {"room": "teaparty", "user": "romeo"},
            "juliet@example.com",
            "teaparty@rooms.example.com",
            True,
        ),
    ],
)
def test_each_rule_kind_matches(muc_auth_backend, rule, user, room, allowed):
    muc_auth_backend.add_rule(**rule, allowed=False, error="denied by rule")
    answer = ask(muc_auth_backend, user=user, room=room).json()
    assert answer["allowed"] is allowed
    assert answer["error"] == ("" if allowed else "denied by rule")


def test_nickname_rule(muc_auth_backend):
    muc_auth_backend.add_rule(nickname="admin", allowed=False, error="reserved nickname")
    assert ask(muc_auth_backend, nickname="admin").json()["allowed"] is False
    assert ask(muc_auth_backend, nickname="romeo").json()["allowed"] is True


def test_first_matching_rule_wins(mock_backend):
    backend = mock_backend(
        "muc_auth",
        {
            "default": {"allowed": False, "error": "not invited"},
            "rules": [
                {"user": "romeo@example.com", "room": "teaparty", "allowed": True},
                {"room": "teaparty", "allowed": False, "error": "private room"},
            ],
        },
    )
    assert ask(backend).json() == {"allowed": True, "error": ""}
    assert ask(backend, user="tybalt@example.com").json() == {
        "allowed": False,
        "error": "private room",
    }
    assert ask(backend, room="library@rooms.example.com").json()["error"] == "not invited"


def test_required_authorization_header(mock_backend):
    backend = mock_backend("muc_auth", {"authorization": "Basic dXNlcjpwYXNz"})
    missing = ask(backend)
    assert missing.status_code == 401
    assert missing.json()["allowed"] is False
    assert ask(backend, headers={"Authorization": "Basic d3Jvbmc6cGFzcw=="}).status_code == 401
    good = ask(backend, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert (good.status_code, good.json()["allowed"]) == (200, True)
    backend.require_authorization(None)
    assert ask(backend).status_code == 200


def test_missing_parameters_get_400_not_a_crash(muc_auth_backend):
    response = requests.get(muc_auth_backend.url + "/", params={"userJID": "a@b"}, timeout=5)
    assert response.status_code == 400
    assert response.json() == {"allowed": False, "error": "missing query parameter mucJID"}


@pytest.mark.parametrize(
    "config, message",
    [
        ({"rules": [{"room": "x"}]}, "'allowed' (true or false) is required"),
        ({"rules": [{"room": "x", "allowed": "no"}]}, "rules[0].allowed: expected true or false"),
        ({"rules": [{"rooms": "x", "allowed": True}]}, "unknown key(s) rooms"),
        ({"rules": {"room": "x"}}, "expected a list of rules"),
        ({"default": {"allowed": True, "why": ""}}, "unknown key(s) why"),
        ({"authorization": 42}, "authorization: expected a string"),
    ],
)
def test_bad_initial_state_is_refused_with_a_message(config, message):
    with pytest.raises(ValueError) as caught:
        start_backend("muc_auth", config)
    assert message in str(caught.value)
