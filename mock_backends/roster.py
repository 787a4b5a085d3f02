"""The roster web app that mod_http_roster_admin fetches rosters from and that tells Prosody
(POST /roster_admin/refresh) which users' rosters changed."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

from flask import Flask, Response

from mock_backends.base import Backend, json_response, post_to_prosody, request_json
from mock_backends.validation import (
    check_keys,
    expect_mapping,
    expect_optional_str,
    expect_seconds,
    expect_str,
    expect_str_list,
)

Roster = dict[str, dict[str, Any]]

DEFAULT_PATH = "/contacts/<username>"
PATH_PLACEHOLDERS = ("<username>", "%s")
UNKNOWN_USER_MODES = ("empty", "404")


def _check_roster(value: Any, where: str) -> Roster:
    roster = expect_mapping(value, where)
    checked: Roster = {}
    for jid, item in roster.items():
        if not jid:
            raise ValueError(f"{where}: a contact JID must not be empty")
        item_where = f"{where}[{jid!r}]"
        item_map = expect_mapping({} if item is None else item, item_where)
        if "name" in item_map:
            expect_str(item_map["name"], f"{item_where}.name")
        if "groups" in item_map:
            expect_str_list(item_map["groups"], f"{item_where}.groups")
        checked[jid] = item_map
    return checked


def _flask_rule(pattern: str) -> str:
    """`/contacts/<username>` or Prosody's `/contacts/%s` -> a Flask rule taking any text."""
    if not pattern.startswith("/") or "?" in pattern:
        raise ValueError(f"roster backend.path: expected a URL path without query, got {pattern!r}")
    found = [marker for marker in PATH_PLACEHOLDERS if marker in pattern]
    if len(found) != 1 or pattern.count(found[0]) != 1:
        raise ValueError(
            "roster backend.path: must contain the placeholder <username> "
            f"(or %s) exactly once, got {pattern!r}"
        )
    return pattern.replace(found[0], "<path:username>")


class RosterBackend(Backend):
    kind = "roster"
    config_keys = ("rosters", "unknown_user", "path", "refresh_url", "domain", "refresh_timeout")

    def _configure(self, settings: dict[str, Any]) -> None:
        rosters = expect_mapping(settings.get("rosters") or {}, "roster backend.rosters")
        self._rosters: dict[str, Roster] = {
            user: _check_roster(copy.deepcopy(roster), f"roster backend.rosters[{user!r}]")
            for user, roster in rosters.items()
        }
        self._unknown_user = "empty"
        self.set_unknown_user(str(settings.get("unknown_user", "empty")))
        self._refresh_url = expect_optional_str(
            settings.get("refresh_url"), "roster backend.refresh_url"
        )
        self._domain = expect_str(
            settings.get("domain", "localhost"), "roster backend.domain", allow_empty=False
        )
        self._refresh_timeout = expect_seconds(
            settings.get("refresh_timeout", 5.0), "roster backend.refresh_timeout", 120
        )
        self._refresh_answers: list[dict[str, Any]] = []
        self._answers_lock = threading.Lock()

    # -- state --------------------------------------------------------------------------

    def set_roster(self, user: str, roster: Roster) -> None:
        checked = _check_roster(copy.deepcopy(roster), f"roster of {user!r}")
        with self._lock:
            self._rosters[expect_str(user, "user", allow_empty=False)] = checked

    def get_roster(self, user: str) -> Roster | None:
        """A copy of the user's roster, or None when the user is unknown."""
        with self._lock:
            roster = self._rosters.get(user)
            return copy.deepcopy(roster) if roster is not None else None

    def rosters(self) -> dict[str, Roster]:
        with self._lock:
            return copy.deepcopy(self._rosters)

    def remove_user(self, user: str) -> bool:
        with self._lock:
            return self._rosters.pop(user, None) is not None

    def set_unknown_user(self, mode: str) -> None:
        """`empty` answers an unknown user with {}; `404` answers 404 Not Found."""
        if mode not in UNKNOWN_USER_MODES:
            raise ValueError(
                f"roster backend.unknown_user: expected one of "
                f"{', '.join(UNKNOWN_USER_MODES)}, got {mode!r}"
            )
        self._unknown_user = mode

    def set_refresh_url(self, url: str | None) -> None:
        self._refresh_url = expect_optional_str(url, "refresh_url")

    def befriend(
        self,
        user_a: str,
        user_b: str,
        refresh_url: str | None = None,
        names: dict[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """Make two users contacts of each other, then (if a refresh URL is known) tell
        Prosody both rosters changed. Returns Prosody's answer, or None without a URL."""
        names = names or {}
        node_a, jid_a = self._split_user(user_a)
        node_b, jid_b = self._split_user(user_b)
        if node_a == node_b:
            raise ValueError(f"cannot befriend {user_a!r} with itself")
        with self._lock:
            self._rosters.setdefault(node_a, {})[jid_b] = {"name": names.get(user_b, node_b)}
            self._rosters.setdefault(node_b, {})[jid_a] = {"name": names.get(user_a, node_a)}
        return self.notify([node_a, node_b], refresh_url)

    def notify(self, users: list[str], refresh_url: str | None = None) -> dict[str, Any] | None:
        """POST the usernames to Prosody's refresh URL; returns and records its answer
        ({url, users, status, json, body} or {url, users, status: None, error})."""
        users = expect_str_list(users, "users")
        url = refresh_url or self._refresh_url
        if not url:
            return None
        answer: dict[str, Any] = {"url": url, "users": users}
        import requests  # for its exceptions (imported by post_to_prosody in any case)

        try:
            response = post_to_prosody(url, json=users, timeout=self._refresh_timeout)
        except requests.RequestException as exc:
            answer.update(status=None, error=f"{type(exc).__name__}: {exc}")
        else:
            try:
                parsed = response.json()
            except ValueError:
                parsed = None
            answer.update(status=response.status_code, json=parsed, body=response.text)
        with self._answers_lock:
            self._refresh_answers.append(answer)
        return answer

    def refresh_answers(self) -> list[dict[str, Any]]:
        with self._answers_lock:
            return copy.deepcopy(self._refresh_answers)

    def _split_user(self, user: str) -> tuple[str, str]:
        """`john` -> (john, john@DOMAIN); `john@example.com` -> (john, john@example.com)."""
        expect_str(user, "user", allow_empty=False)
        if "@" in user:
            return user.split("@", 1)[0], user
        return user, f"{user}@{self._domain}"

    # -- HTTP ---------------------------------------------------------------------------

    def _serve_roster(self, username: str) -> Response:
        with self._lock:
            roster = self._rosters.get(username)
            text = json.dumps(roster) if roster is not None else None
        if text is None:
            if self._unknown_user == "404":
                return json_response({"error": f"unknown user {username!r}"}, 404)
            text = "{}"
        return Response(text, mimetype="application/json")

    def _register_routes(self, app: Flask) -> None:
        path = _flask_rule(self._startup_settings.get("path", DEFAULT_PATH))
        app.add_url_rule(path, "roster", self._serve_roster, methods=["GET"])

        @app.get("/_mock/rosters")
        def get_rosters() -> Response:
            return json_response(self.rosters())

        @app.get("/_mock/rosters/<path:user>")
        def get_user_roster(user: str) -> Response:
            roster = self.get_roster(user)
            if roster is None:
                return json_response({"error": f"unknown user {user!r}"}, 404)
            return json_response(roster)

        @app.put("/_mock/rosters/<path:user>")
        def put_user_roster(user: str) -> Response:
            self.set_roster(user, request_json())
            return json_response(self.get_roster(user))

        @app.delete("/_mock/rosters/<path:user>")
        def delete_user_roster(user: str) -> Response:
            if not self.remove_user(user):
                return json_response({"error": f"unknown user {user!r}"}, 404)
            return json_response({"removed": user})

        @app.post("/_mock/befriend")
        def post_befriend() -> Response:
            data = expect_mapping(request_json(), "befriend")
            check_keys(data, ("users", "names", "refresh_url"), "befriend")
            users = expect_str_list(data.get("users"), "befriend.users")
            if len(users) != 2:
                raise ValueError("befriend.users: expected exactly two usernames")
            names = expect_mapping(data.get("names") or {}, "befriend.names")
            for user, name in names.items():
                expect_str(name, f"befriend.names[{user!r}]")
            answer = self.befriend(
                users[0],
                users[1],
                expect_optional_str(data.get("refresh_url"), "befriend.refresh_url"),
                names,
            )
            return json_response({"refresh": answer})

        @app.post("/_mock/notify")
        def post_notify() -> Response:
            data = expect_mapping(request_json(), "notify")
            check_keys(data, ("users", "refresh_url"), "notify")
            answer = self.notify(
                expect_str_list(data.get("users"), "notify.users"),
                expect_optional_str(data.get("refresh_url"), "notify.refresh_url"),
            )
            if answer is None:
                raise ValueError("notify: no refresh_url given and none configured")
            return json_response({"refresh": answer})

        @app.get("/_mock/refresh_answers")
        def get_refresh_answers() -> Response:
            return json_response(self.refresh_answers())

        @app.get("/_mock/settings")
        def get_settings() -> Response:
            return json_response(self._settings())

        @app.patch("/_mock/settings")
        def patch_settings() -> Response:
            data = expect_mapping(request_json(), "settings")
            check_keys(data, ("unknown_user", "refresh_url"), "settings")
            if "unknown_user" in data:
                self.set_unknown_user(str(data["unknown_user"]))
            if "refresh_url" in data:
                self.set_refresh_url(data["refresh_url"])
            return json_response(self._settings())

    def _settings(self) -> dict[str, Any]:
        return {
            "unknown_user": self._unknown_user,
            "refresh_url": self._refresh_url,
            "domain": self._domain,
        }
