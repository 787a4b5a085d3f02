"""The test stanzas `check webhook --allow-writes` delivers, written as mod_rest writes them:
XML as Prosody serialises a stanza (no xmlns on the top element), or the JSON mapping."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from harness.contract.options import CheckOptions

XML_TYPE = "application/xmpp+xml"
JSON_TYPE = "application/json"
ACCEPT = f"{XML_TYPE}, {JSON_TYPE}"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
DEFAULT_SENDER = "prosody-harness-check@example.com/check"
DEFAULT_RECIPIENT = "bot.example.com"
ID_PREFIX = "prosody-harness-check-"


@dataclass(frozen=True)
class TestStanza:
    """role: plain (any webhook should take it), awkward (non-ASCII, odd JIDs: taken like the
    plain ones), unanswerable (an error stanza: delivered, never answered)."""

    probe: str
    kind: str
    type: str | None
    sender: str
    recipient: str
    id: str
    role: str
    lang: str | None = None
    body: str | None = None
    payload_xml: str = ""  # the child elements, XML mode
    payload_json: dict[str, Any] = field(default_factory=dict)

    @property
    def answerable(self) -> bool:
        return self.type not in ("error", "result")

    def to_xml(self) -> str:
        attrs = {
            "to": self.recipient,
            "from": self.sender,
            "type": self.type,
            "id": self.id,
            "xml:lang": self.lang,
        }
        head = "".join(
            f" {name}={quoteattr(value)}" for name, value in attrs.items() if value is not None
        )
        inner = (
            f"<body>{escape(self.body)}</body>" if self.body is not None else ""
        ) + self.payload_xml
        return f"<{self.kind}{head}>{inner}</{self.kind}>" if inner else f"<{self.kind}{head}/>"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "type": self.type,
            "to": self.recipient,
            "from": self.sender,
            "id": self.id,
            "lang": self.lang,
            "body": self.body,
        }
        if self.kind == "presence" and self.type is None:
            data["type"] = "available"
        data.update(self.payload_json)
        return {key: value for key, value in data.items() if value is not None}

    def request(self, content_type: str) -> tuple[str, dict[str, str]]:
        """The body and headers of the POST, for rest_callback_content_type xml or json."""
        media = JSON_TYPE if content_type == "json" else XML_TYPE
        body = (
            json.dumps(self.to_json(), ensure_ascii=False) if media == JSON_TYPE else self.to_xml()
        )
        headers = {"Content-Type": media, "Accept": ACCEPT}
        if self.lang:
            headers["Content-Language"] = self.lang
        return body, headers


def test_stanzas(options: CheckOptions) -> list[TestStanza]:
    sender = options.sender or DEFAULT_SENDER
    to = options.recipient or DEFAULT_RECIPIENT
    domain = sender.split("@", 1)[-1].split("/", 1)[0]
    return [
        TestStanza(
            "chat message",
            "message",
            "chat",
            sender,
            to,
            ID_PREFIX + "1",
            "plain",
            body="prosody-harness check: a test message, please ignore",
        ),
        TestStanza(
            "iq get (ping)",
            "iq",
            "get",
            sender,
            to,
            ID_PREFIX + "2",
            "plain",
            payload_xml='<ping xmlns="urn:xmpp:ping"/>',
            payload_json={"ping": True},
        ),
        TestStanza("presence", "presence", None, sender, to, ID_PREFIX + "3", "plain"),
        TestStanza(
            "non-ASCII message",
            "message",
            "chat",
            f"jörg-prosody-harness-check@{domain}/Küche",
            to,
            ID_PREFIX + "4",
            "awkward",
            lang="de",
            body="Grüße aus der Küche 🦊 <&> — prosody-harness check",
        ),
        TestStanza(
            "odd JIDs (escaped node, / and @ in the resource)",
            "message",
            None,
            f"d\\27artagnan@{domain}/a/b@c",
            to,
            ID_PREFIX + "5",
            "awkward",
            body="prosody-harness check: an untyped message",
        ),
        TestStanza(
            "error message",
            "message",
            "error",
            sender,
            to,
            ID_PREFIX + "6",
            "unanswerable",
            payload_xml=f'<error type="cancel"><item-not-found xmlns="{STANZAS_NS}"/></error>',
            payload_json={"error": {"type": "cancel", "condition": "item-not-found"}},
        ),
    ]
