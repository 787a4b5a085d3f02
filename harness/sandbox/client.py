"""The sandbox's client sessions: `Sessions` keeps them by id and does what the Lua side
of one needs (lua/modules/mod_c2s.lua: log in, take what the client sends, close);
`SandboxClient` is one of them as a test drives it, synchronously like
harness.xmpp_client.

Like that client it answers what any client must - roster pushes get a result, other
requests an error - and does nothing else on its own (no roster fetch, no presence).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from harness import stanza as stanza_xml
from harness.sandbox import convert
from harness.stanza_queue import StanzaQueue
from harness.target import Client, ReceiveTimeout, TargetError

if TYPE_CHECKING:
    from harness.sandbox.sandbox import Sandbox

ROSTER_NS = "jabber:iq:roster"
STANZA_ERROR_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"


class Sessions:
    """The sandbox's client sessions, by the id mod_c2s knows them by."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._clients: dict[int, SandboxClient] = {}
        self._ids = itertools.count(1)

    def connect(self, jid: str, password: str, resource: str | None = None) -> SandboxClient:
        bare, _, jid_resource = jid.partition("/")
        username, at, host = bare.rpartition("@")
        if not at or not username:
            raise TargetError(f"{jid!r} is not a user JID (user@host)")
        resource = resource or jid_resource or None
        client_id = next(self._ids)
        client = SandboxClient(self, client_id)
        self._clients[client_id] = client
        sandbox = self._sandbox

        def run():
            login = sandbox.lua.c2s_login[host.encode()]
            if login is None:
                raise TargetError(f"{host} is not a virtual host of this sandbox")
            found = sandbox.lua_call(
                login,
                client_id,
                username.encode(),
                password.encode(),
                resource.encode() if resource else None,
            )
            full_jid, err = found if isinstance(found, tuple) else (found, None)
            if not full_jid:
                raise TargetError(f"{bare} could not log in: {convert.text(err)}")
            return convert.text(full_jid)

        try:
            client.jid = sandbox.call(run)
        except BaseException:
            self._clients.pop(client_id, None)
            raise
        return client

    def send(self, client_id: int, xml: str) -> None:
        def run():
            session = self._sandbox.lua.c2s_sessions[client_id]
            if session is None:
                raise TargetError("the client's session is closed")
            self._sandbox.lua_call(session.data, xml.encode())

        self._sandbox.call(run)

    def send_later(self, client_id: int, xml: str) -> None:
        """Send right after what runs now (a client's automatic answers)."""
        self._sandbox.later(self._send_if_open, client_id, xml)

    def _send_if_open(self, client_id: int, xml: str) -> None:
        lua = self._sandbox.lua
        session = lua.c2s_sessions[client_id] if lua is not None else None
        if session is not None:
            self._sandbox.lua_call(session.data, xml.encode())

    def close(self, client_id: int) -> None:
        def run():
            session = self._sandbox.lua.c2s_sessions[client_id]
            if session is not None:
                self._sandbox.lua_call(session.close, session, False)

        self._sandbox.call(run)
        self._clients.pop(client_id, None)

    def wait_for(self, ready: Callable[[], Element | None], seconds: float) -> Element | None:
        return self._sandbox.wait_for(ready, seconds)

    # -- from Lua (the bridge), with the state held ------------------------------------

    def output(self, client_id: int, data: bytes) -> None:
        client = self._clients.get(client_id)
        if client is not None:
            client.deliver(data)

    def ended(self, client_id: int) -> None:
        client = self._clients.pop(client_id, None)
        if client is not None:
            client.mark_closed()


class SandboxClient(Client):
    def __init__(self, sessions: Sessions, client_id: int) -> None:
        self._sessions = sessions
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
        self._sessions.send_later(self._id, stanza_xml.tostring(reply))

    # -- the Client interface ---------------------------------------------------------

    def send(self, stanza: Element | str) -> None:
        if self.closed:
            raise TargetError(f"{self.jid}: send after disconnect")
        if isinstance(stanza, str):
            stanza = stanza_xml.parse(stanza)  # fails early on malformed XML
        self._sessions.send(self._id, stanza_xml.tostring(stanza))

    def receive(
        self, match: Callable[[Element], bool] | None = None, timeout: float = 2.0
    ) -> Element:
        """As every Client's, but `timeout` is on the sandbox's clock: where only a timer
        can bring the stanza, the clock goes straight to it (see loop.Loop.wait_for)."""

        def first_match() -> Element | None:
            return next((e for e in self._received.pending() if match is None or match(e)), None)

        found = self._sessions.wait_for(first_match, timeout)
        if found is None:
            seen = "\n  ".join(stanza_xml.tostring(e) for e in self._received.pending())
            closed = " (the stream is closed)" if self.closed else ""
            raise ReceiveTimeout(
                f"{self.jid}: no matching stanza within {timeout:g} s{closed}; queued:\n"
                f"  {seen or '(nothing)'}"
            )
        return self._received.receive(lambda element: element is found, 0.0)

    def pending(self) -> list[Element]:
        return self._received.pending()

    def disconnect(self) -> None:
        if not self.closed:
            self._sessions.close(self._id)
            self.mark_closed()
