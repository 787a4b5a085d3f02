"""A client session of the sandbox, driven synchronously like harness.xmpp_client.

Like that client it answers what any client must - roster pushes get a result, other
requests an error - and does nothing else on its own (no roster fetch, no presence).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from harness import stanza as stanza_xml
from harness.stanza_queue import StanzaQueue
from harness.target import Client, TargetError

if TYPE_CHECKING:
    from harness.sandbox.sandbox import Sandbox

ROSTER_NS = "jabber:iq:roster"
STANZA_ERROR_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"


class SandboxClient(Client):
    def __init__(self, sandbox: Sandbox, client_id: int) -> None:
        self._sandbox = sandbox
        self._id = client_id
        self.jid = ""
        self._received = StanzaQueue(lambda: self.jid, lambda: self.closed)
        self.closed = False
        self.stream_error: str | None = None

    # -- from the sandbox loop ------------------------------------------------------------

    def deliver(self, data: bytes) -> None:
        text = data.decode("utf-8", "replace").strip()
        if not text:
            return
        if text.startswith("</stream:stream"):
            self.mark_closed()
            return
        if text.startswith("<stream:error"):
            self.stream_error = text
            return
        element = stanza_xml.parse(text)
        self._received.put(element)
        self._answer(element)

    def mark_closed(self) -> None:
        self.closed = True
        self._received.wake()

    def _answer(self, iq: Element) -> None:
        """What every client answers by itself: roster pushes and unhandled requests."""
        if stanza_xml.local_name(iq) != "iq" or iq.get("type") not in ("get", "set"):
            return
        reply = Element(f"{{{stanza_xml.CLIENT_NS}}}iq", {"type": "result", "id": iq.get("id", "")})
        if iq.get("from"):
            reply.set("to", iq.get("from"))
        is_roster_push = iq.get("type") == "set" and iq.find(f"{{{ROSTER_NS}}}query") is not None
        if not is_roster_push:
            reply.set("type", "error")
            error = Element(f"{{{stanza_xml.CLIENT_NS}}}error", {"type": "cancel"})
            Element.append(error, Element(f"{{{STANZA_ERROR_NS}}}feature-not-implemented"))
            reply.append(error)
        self._sandbox.post_client_send(self._id, stanza_xml.tostring(reply))

    # -- the Client interface ---------------------------------------------------------

    def send(self, stanza: Element | str) -> None:
        if self.closed:
            raise TargetError(f"{self.jid}: send after disconnect")
        if isinstance(stanza, str):
            stanza = stanza_xml.parse(stanza)  # fails early on malformed XML
        self._sandbox.client_send(self._id, stanza_xml.tostring(stanza))

    def receive(
        self, match: Callable[[Element], bool] | None = None, timeout: float = 2.0
    ) -> Element:
        return self._received.receive(match, timeout)

    def pending(self) -> list[Element]:
        return self._received.pending()

    def disconnect(self) -> None:
        if not self.closed:
            self._sandbox.client_close(self._id)
            self.mark_closed()
