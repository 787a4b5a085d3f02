"""A synchronous XMPP client for scenarios and tests, built on slixmpp.

All clients share ONE background thread running one asyncio loop; the public methods
hand work to it and wait with a bound, so nothing here can hang a test. Every stanza
received after the session starts is queued (as an ElementTree element in the
jabber:client namespace) until `receive()` takes it.

The client behaves like a plain client and no more: it answers what any client must
(unhandled IQs get an error, roster pushes a result) but fetches no roster, sends no
presence and never accepts or requests subscriptions by itself.
"""

from __future__ import annotations

import asyncio
import atexit
import copy
import functools
import itertools
import logging
import ssl
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar
from xml.etree.ElementTree import Element

import slixmpp

from harness import stanza as stanza_xml
from harness.stanza_queue import StanzaQueue
from harness.target import Client, TargetError

T = TypeVar("T")

ROSTER_NS = "jabber:iq:roster"
MUC_NS = "http://jabber.org/protocol/muc"


class _LoopThread:
    """The one asyncio loop all clients run on, in a daemon thread started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="xmpp-clients", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def shutdown(self, timeout: float = 2.0) -> None:
        """Cancel what still runs (streams' background tasks) and stop the loop."""
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=timeout)

        try:
            asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(timeout + 0.5)
        except (TimeoutError, RuntimeError):
            pass  # exiting anyway; the daemon thread dies with the process
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run `coro` on the loop and wait at most `timeout` seconds for its result."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise


LOOP = _LoopThread()
atexit.register(LOOP.shutdown)
# slixmpp logs expected failures (e.g. a refused login) at error level; without this,
# Python's last-resort handler prints them to stderr when the application set up no logging.
logging.getLogger("slixmpp").addHandler(logging.NullHandler())


class XmppClient(Client):
    """One logged-in c2s session; create it with `XmppClient.connect(...)`."""

    def __init__(self, xmpp: slixmpp.ClientXMPP) -> None:
        self._xmpp = xmpp
        self._received = StanzaQueue(lambda: self.jid, lambda: not self.connected)
        self._collecting = False
        self._closed = False
        self.jid = ""

    # -- connecting -------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        jid: str,
        password: str,
        host: str,
        port: int,
        resource: str | None = None,
        timeout: float = 10.0,
    ) -> XmppClient:
        """Open a plaintext c2s stream to host:port and authenticate; TargetError on failure."""
        full = f"{jid}/{resource}" if resource else jid
        try:
            return LOOP.run(cls._connect(full, password, host, port, timeout), timeout + 1.0)
        except TimeoutError:
            raise TargetError(
                f"{jid}: no session within {timeout:g} s from {host}:{port}"
            ) from None

    @classmethod
    async def _connect(
        cls, jid: str, password: str, host: str, port: int, timeout: float
    ) -> XmppClient:
        xmpp = slixmpp.ClientXMPP(
            jid, password, loop=asyncio.get_running_loop(), ssl_context=_unused_tls_context()
        )
        # Unencrypted c2s on loopback (see PROSODY_NOTES): no direct TLS, no STARTTLS.
        # slixmpp prefers SCRAM-SHA-1 as real clients do; PLAIN stays allowed as a fallback.
        xmpp.enable_direct_tls = False
        xmpp.enable_starttls = False
        xmpp.enable_plaintext = True
        xmpp.plugin["feature_mechanisms"].unencrypted_plain = True
        xmpp.whitespace_keepalive = False
        xmpp.auto_authorize = None  # neither accept nor refuse subscriptions by itself
        xmpp.auto_subscribe = False
        client = cls(xmpp)
        xmpp.add_filter("in", client._capture)

        outcome: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

        def settle(reason: str | None) -> None:
            if not outcome.done():
                outcome.set_result(reason)

        def on_session_start(_event: Any) -> None:
            client._collecting = True
            settle(None)

        xmpp.add_event_handler("session_start", on_session_start)
        xmpp.add_event_handler(
            "connection_failed", lambda err: settle(f"cannot connect to {host}:{port}: {err}")
        )
        xmpp.add_event_handler(
            "failed_all_auth", lambda _e: settle("authentication failed (wrong user or password?)")
        )
        xmpp.add_event_handler(
            "stream_error", lambda err: settle(f"stream error: {err['condition']} {err['text']}")
        )
        xmpp.add_event_handler(
            "disconnected", lambda _e: settle("the server closed the stream before the session")
        )

        xmpp.connect(host=host, port=port)
        try:
            reason = await asyncio.wait_for(asyncio.shield(outcome), timeout)
        except TimeoutError:
            reason = f"no session within {timeout:g} s"
        if reason is not None:
            xmpp.cancel_connection_attempt()  # or slixmpp keeps retrying forever
            xmpp.abort()
            await _end_background_work(xmpp)
            raise TargetError(f"{jid}: {reason}")
        client.jid = str(xmpp.boundjid.full)
        return client

    def _capture(self, stanza: Any) -> Any:
        """slixmpp 'in' filter: keep a copy of every stanza once the session runs."""
        if self._collecting:
            self._received.put(copy.deepcopy(stanza.xml))
        return stanza

    # -- the Client interface ---------------------------------------------------------

    def send(self, stanza: Element | str) -> None:
        if self._closed:
            raise TargetError(f"{self.jid}: send after disconnect")
        if isinstance(stanza, str):
            stanza = stanza_xml.parse(stanza)  # fails early on malformed XML
        text = stanza_xml.tostring(stanza)

        async def write() -> None:
            if not self._xmpp.transport:
                raise TargetError(f"{self.jid}: the stream is closed")
            self._xmpp.send_raw(text)

        LOOP.run(write(), 5.0)

    def receive(
        self, match: Callable[[Element], bool] | None = None, timeout: float = 2.0
    ) -> Element:
        return self._received.receive(match, timeout)

    def pending(self) -> list[Element]:
        return self._received.pending()

    def disconnect(self, timeout: float = 2.0) -> None:
        """Close the stream politely, abort it if the server does not answer in time."""
        if self._closed:
            return
        self._closed = True
        self._collecting = False

        async def close() -> None:
            if self._xmpp.transport:
                try:
                    await asyncio.wait_for(self._xmpp.disconnect(wait=timeout), timeout + 0.5)
                except TimeoutError:
                    self._xmpp.abort()
            await _end_background_work(self._xmpp)

        try:
            LOOP.run(close(), timeout + 1.0)
        except TimeoutError:
            LOOP.loop.call_soon_threadsafe(self._xmpp.abort)

    @property
    def connected(self) -> bool:
        return not self._closed and self._xmpp.transport is not None

    # -- helpers scenarios need -------------------------------------------------------

    def query(self, iq: Element | str, timeout: float = 2.0) -> Element:
        """Send an IQ and return its result or error (matched by id)."""
        if isinstance(iq, str):
            iq = stanza_xml.parse(iq)
        if not iq.get("id"):
            iq.set("id", f"h{next(_ids)}")
        ident = iq.get("id")
        self.send(iq)
        return self.receive(
            lambda e: (
                stanza_xml.local_name(e) == "iq"
                and e.get("id") == ident
                and e.get("type") in ("result", "error")
            ),
            timeout,
        )

    def roster_get(self, timeout: float = 2.0) -> Element:
        """The roster result IQ (its <query> lists the items)."""
        return self.query(f'<iq type="get"><query xmlns="{ROSTER_NS}"/></iq>', timeout)

    def send_presence(
        self,
        to: str | None = None,
        type: str | None = None,
        show: str | None = None,
        status: str | None = None,
        children: list[Element] | None = None,
    ) -> None:
        presence = Element(f"{{{stanza_xml.CLIENT_NS}}}presence")
        if to:
            presence.set("to", to)
        if type:
            presence.set("type", type)
        for name, text in (("show", show), ("status", status)):
            if text is not None:
                child = Element(f"{{{stanza_xml.CLIENT_NS}}}{name}")
                child.text = text
                presence.append(child)
        for child in children or []:
            presence.append(child)
        self.send(presence)

    def send_message(self, to: str, body: str, type: str = "chat") -> None:
        message = Element(f"{{{stanza_xml.CLIENT_NS}}}message", {"to": to, "type": type})
        body_element = Element(f"{{{stanza_xml.CLIENT_NS}}}body")
        body_element.text = body
        message.append(body_element)
        self.send(message)

    def muc_join(
        self, room_jid: str, nick: str, password: str | None = None, timeout: float = 2.0
    ) -> Element:
        """Join a room and return our own presence from it (status 110), or raise.

        An error presence from the room raises TargetError with the stanza.
        """
        occupant = f"{room_jid}/{nick}"
        join = Element(f"{{{MUC_NS}}}x")
        if password is not None:
            secret = Element(f"{{{MUC_NS}}}password")
            secret.text = password
            join.append(secret)
        self.send_presence(to=occupant, children=[join])
        reply = self.receive(
            lambda e: (
                stanza_xml.local_name(e) == "presence"
                and e.get("from") == occupant
                and (e.get("type") == "error" or _has_self_status(e))
            ),
            timeout,
        )
        if reply.get("type") == "error":
            refusal = stanza_xml.tostring(reply)
            raise TargetError(f"{self.jid}: joining {occupant} failed: {refusal}")
        return reply

    def muc_leave(self, room_jid: str, nick: str, timeout: float = 2.0) -> Element:
        """Leave a room and return the unavailable presence that confirms it."""
        occupant = f"{room_jid}/{nick}"
        self.send_presence(to=occupant, type="unavailable")
        return self.receive(
            lambda e: (
                stanza_xml.local_name(e) == "presence"
                and e.get("from") == occupant
                and e.get("type") == "unavailable"
            ),
            timeout,
        )


@functools.cache
def _unused_tls_context() -> ssl.SSLContext:
    """One shared context for slixmpp, which otherwise loads the system CA store (~50 ms)
    for every client; these clients never use TLS (plaintext c2s on loopback)."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


async def _end_background_work(xmpp: slixmpp.ClientXMPP) -> None:
    """Stop the stream's send-queue task, which slixmpp leaves running after a close."""
    task = getattr(xmpp, "_run_out_filters", None)
    if task is not None and not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.5)


def _has_self_status(presence: Element) -> bool:
    return any(
        status.get("code") == "110"
        for status in presence.iter("{http://jabber.org/protocol/muc#user}status")
    )


_ids = itertools.count(1)  # IQ ids for query(); next() on it is atomic under the GIL
