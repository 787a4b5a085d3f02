"""The webhook mod_rest POSTs incoming stanzas to (`rest_callback_url`), and a bot that
sends stanzas into Prosody through mod_rest's `POST /rest`."""

from __future__ import annotations

import json
import re
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, abort, request

from mock_backends import stanza as stanza_xml
from mock_backends.base import json_response, post_to_prosody, request_json
from mock_backends.rule_list import RuledBackend
from mock_backends.validation import (
    check_keys,
    expect_mapping,
    expect_optional_str,
    expect_seconds,
    expect_status,
    expect_str,
)

XML_TYPE = "application/xmpp+xml"
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain"  # a rule's text answer, e.g. the body of a 4xx/5xx
XML_TYPES = (XML_TYPE, "application/xml", "text/xml")
DEFAULT_ACCEPT = f"{XML_TYPE}, {JSON_TYPE}"
MATCH_KEYS = ("kind", "type", "from", "to", "body")
RULE_KEYS = ("match", "status", "reply", "content_type")

Payload = ET.Element | dict[str, Any]


def _pattern(text: str) -> re.Pattern[str]:
    """`*` matches any text; everything else literally."""
    return re.compile(
        "".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", text))
        + r"\Z",
        re.DOTALL,
    )


def stanza_fields(payload: Payload) -> dict[str, str | None]:
    """The fields rules match on, from an XML stanza or mod_rest's JSON mapping."""
    if isinstance(payload, dict):
        return {
            key: None if payload.get(key) is None else str(payload.get(key)) for key in MATCH_KEYS
        }
    body = payload.find(f"{{{stanza_xml.CLIENT_NS}}}body")
    return {
        "kind": stanza_xml.local_name(payload),
        "type": payload.get("type"),
        "from": payload.get("from"),
        "to": payload.get("to"),
        "body": None if body is None else (body.text or ""),
    }


def _empty_response(status: int) -> Response:
    response = Response(status=status)
    del response.headers["Content-Type"]  # no body, so no (default text/html) type
    return response


def _jid_matches(pattern: re.Pattern[str], value: str) -> bool:
    # A bare JID in a rule also matches any full JID of that account.
    return bool(pattern.match(value) or pattern.match(value.split("/", 1)[0]))


@dataclass(frozen=True)
class ReplyRule:
    match: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    reply: str | dict[str, Any] | None = None
    content_type: str | None = None

    @classmethod
    def from_mapping(cls, data: Any, where: str = "rule") -> ReplyRule:
        mapping = expect_mapping(data, where)
        check_keys(mapping, RULE_KEYS, where)
        match = expect_mapping(mapping.get("match") or {}, f"{where}.match")
        check_keys(match, MATCH_KEYS, f"{where}.match")
        for key, value in match.items():
            expect_str(value, f"{where}.match.{key}")
        status = mapping.get("status")
        reply = mapping.get("reply")
        content_type = expect_optional_str(mapping.get("content_type"), f"{where}.content_type")
        if content_type == TEXT_TYPE:
            if not isinstance(reply, str):
                raise ValueError(f"{where}.reply: a {TEXT_TYPE} reply must be a string")
        elif isinstance(reply, str) and content_type == JSON_TYPE:
            try:
                json.loads(reply)
            except ValueError as exc:
                raise ValueError(f"{where}.reply: not a JSON document: {exc}") from exc
        elif isinstance(reply, str):
            try:
                stanza_xml.parse(reply)
            except (ET.ParseError, ValueError) as exc:
                raise ValueError(f"{where}.reply: not one XML stanza: {exc}") from exc
        elif reply is not None and not isinstance(reply, dict):
            raise ValueError(f"{where}.reply: expected an XML string or a JSON object")
        if content_type is not None and content_type not in (XML_TYPE, JSON_TYPE, TEXT_TYPE):
            raise ValueError(
                f"{where}.content_type: expected {XML_TYPE}, {JSON_TYPE} or {TEXT_TYPE}"
            )
        if isinstance(reply, dict) and content_type == XML_TYPE:
            raise ValueError(f"{where}: a JSON object reply cannot be sent as {XML_TYPE}")
        return cls(
            match=match,
            status=None if status is None else expect_status(status, f"{where}.status"),
            reply=reply,
            content_type=content_type,
        )

    def matches(self, fields: dict[str, str | None]) -> bool:
        for key, wanted in self.match.items():
            value = fields.get(key)
            if value is None:
                return False
            pattern = _pattern(wanted)
            if key in ("from", "to"):
                if not _jid_matches(pattern, value):
                    return False
            elif not pattern.match(value.strip() if key == "body" else value):
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"match": dict(self.match)}
        for key in ("status", "reply", "content_type"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


class RestCallbackBackend(RuledBackend):
    kind = "rest_callback"
    rule_class = ReplyRule
    config_keys = ("rules", "default_status", "accept", "send_timeout")

    def _configure(self, settings: dict[str, Any]) -> None:
        self._received: list[Payload] = []
        self._received_lock = threading.Lock()
        self._configure_rules(settings.get("rules"))
        self.set_default_status(settings.get("default_status", 202))
        self._accept = expect_str(
            settings.get("accept", DEFAULT_ACCEPT),
            "rest_callback backend.accept",
            allow_empty=False,
        )
        self._send_timeout = expect_seconds(
            settings.get("send_timeout", 10.0), "rest_callback backend.send_timeout", 300
        )

    # -- state --------------------------------------------------------------------------

    def add_reply_rule(
        self,
        match: dict[str, str],
        status: int | None = None,
        reply: str | dict[str, Any] | None = None,
        content_type: str | None = None,
    ) -> None:
        """Add a rule after the existing ones (the first matching rule decides)."""
        self._append_rule(
            {"match": match, "status": status, "reply": reply, "content_type": content_type}
        )

    def set_default_status(self, status: int) -> None:
        """The status when no rule matches (202 or 204 accept; 4xx/5xx become errors)."""
        with self._lock:
            self._default_status = expect_status(status, "default_status")

    def received_stanzas(self) -> list[Payload]:
        """Each accepted POST's payload: an XML element (jabber:client) or a JSON dict."""
        with self._received_lock:
            return list(self._received)

    def clear_received(self) -> None:
        with self._received_lock:
            self._received.clear()

    def send_to_prosody(
        self,
        stanza: str | ET.Element | dict[str, Any],
        rest_url: str,
        auth: tuple[str, str] | str | None = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        """Bot mode: POST one stanza to Prosody's mod_rest endpoint.

        auth is (user, password) for Basic or a full Authorization header value (for
        example "Bearer TOKEN"). Returns {status, content_type, body, json}, or
        {status: None, error} when Prosody could not be reached.
        """
        if isinstance(stanza, ET.Element):
            stanza = ET.tostring(stanza, encoding="unicode")
        if content_type is None:
            content_type = JSON_TYPE if isinstance(stanza, dict) else XML_TYPE
        data = json.dumps(stanza) if isinstance(stanza, dict) else stanza
        headers = {"Content-Type": content_type}
        basic: tuple[str, str] | None = None
        if isinstance(auth, str):
            headers["Authorization"] = auth
        elif auth is not None:
            basic = (auth[0], auth[1])
        import requests  # for its exceptions (imported by post_to_prosody in any case)

        try:
            response = post_to_prosody(
                rest_url,
                data=data.encode("utf-8"),
                headers=headers,
                auth=basic,
                timeout=self._send_timeout,
            )
        except requests.RequestException as exc:
            return {"status": None, "error": f"{type(exc).__name__}: {exc}"}
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        return {
            "status": response.status_code,
            "content_type": response.headers.get("Content-Type"),
            "body": response.text,
            "json": parsed,
        }

    # -- HTTP ---------------------------------------------------------------------------

    def _parse_payload(self) -> Payload | Response:
        media_type = (request.mimetype or "").lower()
        raw = request.get_data()
        if media_type in XML_TYPES:
            try:
                return stanza_xml.parse(raw)
            except (ET.ParseError, ValueError, UnicodeDecodeError) as exc:
                return json_response({"error": f"malformed XML stanza: {exc}"}, 400)
        if media_type == JSON_TYPE:
            try:
                payload = json.loads(raw)
            except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
                return json_response({"error": f"malformed JSON: {exc}"}, 400)
            if not isinstance(payload, dict):
                return json_response({"error": "expected a JSON object"}, 400)
            return payload
        response = json_response({"error": f"unsupported Content-Type {media_type!r}"}, 415)
        response.headers["Accept"] = self._accept
        return response

    def _serve_callback(self, path: str = "") -> Response:
        if path.startswith("_mock/"):
            abort(404)  # a mistyped control route, not a webhook call
        payload = self._parse_payload()
        if isinstance(payload, Response):
            return payload
        with self._received_lock:
            self._received.append(payload)
        fields = stanza_fields(payload)
        with self._lock:
            rule = next((rule for rule in self._rules if rule.matches(fields)), None)
            default_status = self._default_status
        if rule is None:
            return _empty_response(default_status)
        if rule.reply is None:
            return _empty_response(rule.status or default_status)
        if isinstance(rule.reply, dict):
            return Response(
                json.dumps(rule.reply), status=rule.status or 200, content_type=JSON_TYPE
            )
        return Response(
            rule.reply, status=rule.status or 200, content_type=rule.content_type or XML_TYPE
        )

    def _serve_probe(self, path: str = "") -> Response:
        response = _empty_response(200)
        response.headers["Accept"] = self._accept
        response.headers["Allow"] = "POST, OPTIONS"
        return response

    def _register_routes(self, app: Flask) -> None:
        # Any path outside /_mock/ is the webhook, so whatever rest_callback_url names works.
        for rule, suffix in (("/", ""), ("/<path:path>", "_path")):
            app.add_url_rule(
                rule,
                "callback" + suffix,
                self._serve_callback,
                methods=["POST"],
                provide_automatic_options=False,
            )
            app.add_url_rule(
                rule,
                "probe" + suffix,
                self._serve_probe,
                methods=["OPTIONS"],
                provide_automatic_options=False,
            )

        self._register_rule_routes(app)

        @app.put("/_mock/default_status")
        def put_default_status() -> Response:
            data = expect_mapping(request_json(), "default_status")
            check_keys(data, ("status",), "default_status")
            self.set_default_status(data.get("status"))
            return json_response({"status": self._default_status})

        @app.get("/_mock/received")
        def get_received() -> Response:
            return json_response(
                [
                    payload if isinstance(payload, dict) else stanza_xml.tostring(payload)
                    for payload in self.received_stanzas()
                ]
            )

        @app.delete("/_mock/received")
        def delete_received() -> Response:
            self.clear_received()
            return json_response([])

        @app.post("/_mock/send")
        def post_send() -> Response:
            data = expect_mapping(request_json(), "send")
            check_keys(data, ("stanza", "rest_url", "auth", "content_type"), "send")
            stanza = data.get("stanza")
            if not isinstance(stanza, str | dict):
                raise ValueError("send.stanza: expected an XML string or a JSON object")
            rest_url = expect_str(data.get("rest_url"), "send.rest_url", allow_empty=False)
            auth = data.get("auth")
            if isinstance(auth, list):
                if len(auth) != 2 or not all(isinstance(part, str) for part in auth):
                    raise ValueError("send.auth: expected [user, password] or a header value")
                auth = (auth[0], auth[1])
            elif auth is not None and not isinstance(auth, str):
                raise ValueError("send.auth: expected [user, password] or a header value")
            result = self.send_to_prosody(
                stanza,
                rest_url,
                auth,
                expect_optional_str(data.get("content_type"), "send.content_type"),
            )
            return json_response(result, 200 if result["status"] is not None else 502)
