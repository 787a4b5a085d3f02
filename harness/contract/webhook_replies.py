"""A webhook's answer body read as mod_rest reads it: one stanza, as XML (Prosody's parser:
no comments, DOCTYPE or processing instructions; namespace none or jabber:client) or as the
JSON mapping, of the same kind as the stanza it answers and of a valid type."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from harness.contract.stanza_schema import shape_errors

XML_ALIASES = ("application/xmpp+xml", "application/xml", "text/xml")
JSON_TYPE = "application/json"
SIZE_LIMIT = 196608  # rest_stanza_size_limit's default
MAX_DEPTH = 1000
CLIENT_NS = "jabber:client"
VALID_TYPES = {
    "message": {"normal", "chat", "groupchat", "headline", "error"},
    "presence": {
        "unavailable",
        "subscribe",
        "subscribed",
        "unsubscribe",
        "unsubscribed",
        "probe",
        "error",
    },
    "iq": {"get", "set", "result", "error"},
}
FIELD_KIND = {
    "body": "message",
    "subject": "message",
    "html": "message",
    "oob_url": "message",
    "state": "message",
    "show": "presence",
    "status": "presence",
    "join": "presence",
    "priority": "presence",
    "ping": "iq",
    "version": "iq",
    "disco": "iq",
    "items": "iq",
    "command": "iq",
}
COMMON_FIELDS = {"kind", "type", "to", "from", "id", "lang", "error"}
KIND_OF_TYPE = {t: kind for kind, types in VALID_TYPES.items() for t in types if t != "error"}
KIND_OF_TYPE["available"] = "presence"
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
XML_DECLARATION = re.compile(r"^\s*<\?xml\s[^?]*\?>")


@dataclass(frozen=True)
class Reply:
    kind: str
    type: str | None


def parse_reply(body: bytes, media: str, sent_kind: str) -> tuple[Reply | None, str | None]:
    """The reply stanza mod_rest would make of this body, or None and why it cannot."""
    if len(body) > SIZE_LIMIT:
        return None, f"the answer is larger than {SIZE_LIMIT} bytes (rest_stanza_size_limit)"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None, "the answer is not UTF-8"
    reply, problem = _from_xml(text) if media in XML_ALIASES else _from_json(text, sent_kind)
    if reply is None:
        return None, problem
    if reply.kind != sent_kind:
        return None, f"the answer is {article(reply.kind)}, not {article(sent_kind)}"
    if reply.type is not None and reply.type not in VALID_TYPES[reply.kind]:
        return None, f"{reply.type!r} is not a type of {reply.kind} stanza"
    return reply, None


def article(kind: str) -> str:
    return f"an {kind}" if kind == "iq" else f"a {kind}"


def _depth(element: ET.Element) -> int:
    deepest, stack = 1, [(element, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in node)
    return deepest


def _from_xml(text: str) -> tuple[Reply | None, str | None]:
    rest = XML_DECLARATION.sub("", text, count=1)
    if re.search(r"<!--|<!DOCTYPE|<\?", rest, re.IGNORECASE):
        return None, (
            "Prosody's XML parser stops at comments, DOCTYPE declarations and "
            "processing instructions"
        )
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        return None, f"not well-formed XML ({exc})"
    if _depth(root) > MAX_DEPTH:
        return None, f"the XML nests elements deeper than {MAX_DEPTH} levels"
    namespace, _, name = (
        root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
    )
    if namespace not in ("", CLIENT_NS):
        return None, f"the stanza is in the namespace {namespace!r}, not jabber:client or none"
    if name not in VALID_TYPES:
        return None, f"the answer is a <{name}/>, not a stanza"
    return Reply(name, root.get("type")), None


def _text_problem(value: Any, where: str) -> str | None:
    if isinstance(value, str):
        return f"'{where}' contains control characters" if CONTROL.search(value) else None
    if isinstance(value, dict):
        return next((p for k, v in value.items() if (p := _text_problem(v, f"{where}.{k}"))), None)
    if isinstance(value, list):
        return next(
            (p for i, v in enumerate(value) if (p := _text_problem(v, f"{where}[{i}]"))), None
        )
    return None


def _from_json(text: str, sent_kind: str) -> tuple[Reply | None, str | None]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        return None, f"not valid JSON ({exc.msg})"
    if not isinstance(data, dict):
        return None, "the payload must be a JSON object"
    for key, value in data.items():
        if key not in COMMON_FIELDS and key not in FIELD_KIND:
            return None, f"unsupported field {key!r}"
        if value is None:
            return None, f"'{key}' must not be null"
    kind = data.get("kind")
    if kind is None:
        kind = KIND_OF_TYPE.get(data.get("type")) if isinstance(data.get("type"), str) else None
    if kind is None:
        kind = next((FIELD_KIND[f] for f in FIELD_KIND if f in data), sent_kind)
    if kind not in VALID_TYPES:
        return None, f"'kind' has an unsupported value {kind!r}"
    for key in data:
        if FIELD_KIND.get(key, kind) != kind:
            return None, f"'{key}' does not belong in {article(kind)} stanza"
    problems = shape_errors(data)
    if problems:
        return None, "; ".join(problems)
    problem = _text_problem(data, "stanza")
    if problem:
        return None, problem
    stanza_type = data.get("type")
    if "error" in data and stanza_type not in (None, "error"):
        return None, "'error' needs 'type' \"error\""
    if stanza_type is None and "error" in data:
        stanza_type = "error"
    if kind == "presence" and stanza_type == "available":
        stanza_type = None
    if stanza_type is not None and not isinstance(stanza_type, str):
        return None, "'type' must be a string"
    return Reply(kind, stanza_type), None


def clean_text(body: bytes) -> str | None:
    """A text/plain 4xx/5xx body as the error's text (first 1,024 bytes), or None."""
    head = body[:1024]
    for cut in range(4):  # the module cuts at 1,024 bytes, then back to whole characters
        try:
            text = head[: len(head) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    else:
        return None
    if not text.strip() or CONTROL.search(text):
        return None
    return text.strip()
