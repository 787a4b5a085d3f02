"""The authorization service mod_muc_http_auth asks before a user joins a room:
GET ?userJID=...&mucJID=...(&nickname=...) -> {"allowed": bool, "error": str}."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from flask import Flask, Response, abort, request

from mock_backends.base import json_response, request_json
from mock_backends.rule_list import RuledBackend
from mock_backends.validation import (
    check_keys,
    expect_bool,
    expect_mapping,
    expect_optional_str,
    expect_str,
)

RULE_KEYS = ("room", "user", "domain", "nickname", "allowed", "error")


def _bare(jid: str) -> str:
    return jid.split("/", 1)[0].lower()


@dataclass(frozen=True)
class AccessRule:
    """Conditions given must all hold. room: node (`teaparty`) or room JID
    (`teaparty@rooms.localhost`); user: bare JID or node; domain: the user's domain."""

    allowed: bool
    error: str = ""
    room: str | None = None
    user: str | None = None
    domain: str | None = None
    nickname: str | None = None

    @classmethod
    def from_mapping(cls, data: Any, where: str = "rule") -> AccessRule:
        mapping = expect_mapping(data, where)
        check_keys(mapping, RULE_KEYS, where)
        if "allowed" not in mapping:
            raise ValueError(f"{where}: 'allowed' (true or false) is required")
        return cls(
            allowed=expect_bool(mapping["allowed"], f"{where}.allowed"),
            error=expect_str(mapping.get("error", ""), f"{where}.error"),
            room=expect_optional_str(mapping.get("room"), f"{where}.room"),
            user=expect_optional_str(mapping.get("user"), f"{where}.user"),
            domain=expect_optional_str(mapping.get("domain"), f"{where}.domain"),
            nickname=expect_optional_str(mapping.get("nickname"), f"{where}.nickname"),
        )

    def matches(self, user_jid: str, muc_jid: str, nickname: str | None) -> bool:
        user_bare, room_bare = _bare(user_jid), _bare(muc_jid)
        if self.room is not None:
            wanted = self.room.lower()
            room_value = room_bare if "@" in wanted else room_bare.split("@", 1)[0]
            if room_value != wanted:
                return False
        if self.user is not None:
            wanted = self.user.lower()
            user_value = user_bare if "@" in wanted else user_bare.split("@", 1)[0]
            if user_value != wanted:
                return False
        if self.domain is not None and user_bare.rsplit("@", 1)[-1] != self.domain.lower():
            return False
        return self.nickname is None or self.nickname == nickname

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


class MucAuthBackend(RuledBackend):
    kind = "muc_auth"
    rule_class = AccessRule
    config_keys = ("default", "rules", "authorization")

    def _configure(self, settings: dict[str, Any]) -> None:
        default = expect_mapping(
            settings.get("default") or {"allowed": True}, "muc_auth backend.default"
        )
        check_keys(default, ("allowed", "error"), "muc_auth backend.default")
        self.set_default(
            expect_bool(default.get("allowed", True), "default.allowed"),
            expect_str(default.get("error", ""), "default.error"),
        )
        self._configure_rules(settings.get("rules"))
        self.require_authorization(
            expect_optional_str(settings.get("authorization"), "muc_auth backend.authorization")
        )

    # -- state --------------------------------------------------------------------------

    def add_rule(
        self,
        room: str | None = None,
        user: str | None = None,
        domain: str | None = None,
        allowed: bool = True,
        error: str = "",
        *,
        nickname: str | None = None,
    ) -> None:
        """Add a rule after the existing ones (the first matching rule decides)."""
        self._append_rule(
            {
                "room": room,
                "user": user,
                "domain": domain,
                "nickname": nickname,
                "allowed": allowed,
                "error": error,
            }
        )

    def set_default(self, allowed: bool, error: str = "") -> None:
        """The answer when no rule matches."""
        with self._lock:
            self._default = {
                "allowed": expect_bool(allowed, "allowed"),
                "error": expect_str(error, "error"),
            }

    def require_authorization(self, value: str | None) -> None:
        """Answer 401 unless the Authorization header is exactly `value` (None: no check)."""
        with self._lock:
            self._authorization = expect_optional_str(value, "authorization")

    def decide(self, user_jid: str, muc_jid: str, nickname: str | None = None) -> dict[str, Any]:
        with self._lock:
            for rule in self._rules:
                if rule.matches(user_jid, muc_jid, nickname):
                    return {"allowed": rule.allowed, "error": rule.error}
            return dict(self._default)

    # -- HTTP ---------------------------------------------------------------------------

    def _serve_decision(self, path: str = "") -> Response:
        if path.startswith("_mock/"):
            abort(404)  # a mistyped control route, not a question for the service
        with self._lock:
            required = self._authorization
        if required is not None and request.headers.get("Authorization") != required:
            response = json_response({"allowed": False, "error": "unauthorized"}, 401)
            response.headers["WWW-Authenticate"] = 'Basic realm="muc-auth mock"'
            return response
        user_jid = request.args.get("userJID")
        muc_jid = request.args.get("mucJID")
        missing = [
            name for name, value in (("userJID", user_jid), ("mucJID", muc_jid)) if not value
        ]
        if missing:
            return json_response(
                {"allowed": False, "error": f"missing query parameter {', '.join(missing)}"}, 400
            )
        return json_response(self.decide(user_jid, muc_jid, request.args.get("nickname")))

    def _register_routes(self, app: Flask) -> None:
        # Any path outside /_mock/ answers, so whatever muc_http_auth_url names works.
        app.add_url_rule("/", "decision", self._serve_decision, methods=["GET"])
        app.add_url_rule("/<path:path>", "decision_path", self._serve_decision, methods=["GET"])

        self._register_rule_routes(app)

        @app.get("/_mock/default")
        def get_default() -> Response:
            with self._lock:
                return json_response(dict(self._default))

        @app.put("/_mock/default")
        def put_default() -> Response:
            data = expect_mapping(request_json(), "default")
            check_keys(data, ("allowed", "error"), "default")
            if "allowed" not in data:
                raise ValueError("default: 'allowed' (true or false) is required")
            self.set_default(
                expect_bool(data["allowed"], "default.allowed"),
                expect_str(data.get("error", ""), "default.error"),
            )
            return get_default()

        @app.put("/_mock/authorization")
        def put_authorization() -> Response:
            data = expect_mapping(request_json(), "authorization")
            check_keys(data, ("value",), "authorization")
            self.require_authorization(
                expect_optional_str(data.get("value"), "authorization.value")
            )
            return json_response({"value": data.get("value")})
