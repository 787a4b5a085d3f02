"""Real sockets for the sandbox's emulated net.server.

Lua never touches a socket: it asks this hub to listen, connect, write and close, and
the process' reactor thread (reactor.py) reports accepts, data, connects and disconnects
by posting callbacks to the sandbox's loop, so Lua sees them with the state to itself,
never inside the call that caused them.

Every send and receive on a connection happens under the hub's lock: Lua writes while
the reactor reads, and an OpenSSL connection must never be used by two threads at once (a
TLS 1.3 session ticket being read while the request was written lost the request though
send() had reported it written, so no response came).
"""

from __future__ import annotations

import itertools
import random
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable

from harness.sandbox.http_watch import HttpWatch
from harness.sandbox.reactor import reactor
from harness.sandbox.tls_client import TlsSettings, handshake

CONNECT_TIMEOUT = 10.0
WRITE_TIMEOUT = 10.0
READ_SIZE = 65536  # bytes one read of a socket takes at most
Post = Callable[..., None]


def _below_ephemeral_ports() -> tuple[int, int]:
    """Ports the sandbox listens on: the 10,000 under the kernel's ephemeral range."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as file:
            lowest = int(file.read().split()[0])
    except (OSError, ValueError, IndexError):
        lowest = 32768  # Linux's default
    return max(1024, lowest - 10000), max(1025, lowest)


RESERVED_RANGE = _below_ephemeral_ports()
RESERVE_ATTEMPTS = 50


class InProcessConnection:
    """A connection to the sandbox's HTTP server with no socket: what Lua answers on it,
    followed with the same framing rules as an outgoing connection's answers."""

    def __init__(self, conn_id: int) -> None:
        self.conn_id = conn_id
        self.answered = bytearray()
        self.closed = False  # by Lua
        self._watch = HttpWatch()

    def ask(self, request: bytes) -> None:
        self._watch.sent(request)

    def answer(self, data: bytes) -> None:
        self.answered += data
        self._watch.received(data)

    @property
    def complete(self) -> bool:
        """The answer is all there (by its framing, or because Lua closed)."""
        return self.closed or not self._watch.waiting


class SocketHub:
    def __init__(self, post: Post, events) -> None:
        self._post = post  # post(lua_function_name, *args) onto the sandbox loop
        self._events = events  # which Lua callbacks to post: accept/connected/incoming/disconnect
        self._ids = itertools.count(1)
        self._sockets: dict[int, socket.socket] = {}
        self._listeners: dict[int, socket.socket] = {}
        self._reserved: dict[int, socket.socket] = {}  # port -> bound, not yet listening
        self._outgoing: set[int] = set()  # client connections being made or open
        self._watches: dict[int, HttpWatch] = {}  # what each open one still waits for
        self._ports: dict[int, tuple[int, int]] = {}  # each open one's (own, peer's) port
        self._ports_listened: dict[int, int] = {}  # port -> server id
        # The harness's own requests (Sandbox.http), on connections with no socket.
        self._in_process: dict[int, InProcessConnection] = {}
        self._lock = threading.Lock()
        self._reactor = reactor()
        self._closed = False

    def reserve_port(self, interface: str = "127.0.0.1") -> int:
        """Bind a free port now, so the port named in the config is ours when listen() comes.

        The port comes from below the kernel's ephemeral range: a port the kernel hands
        out for bind(0) (to a mock backend or another target, which may later bind it
        again) could be taken, and listened on, before this sandbox listens."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for _ in range(RESERVE_ATTEMPTS):
            try:
                sock.bind((interface, random.randrange(*RESERVED_RANGE)))
                break
            except OSError:
                continue
        else:
            sock.bind((interface, 0))
        port = sock.getsockname()[1]
        self._reserved[port] = sock
        return port

    def listen(self, interface: str, port: int) -> int:
        sock = self._reserved.pop(port, None)
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((interface, port))
        sock.listen(64)
        sock.setblocking(False)
        server_id = next(self._ids)
        with self._lock:
            self._listeners[server_id] = sock
            self._ports_listened[sock.getsockname()[1]] = server_id
        self._reactor.register(sock, lambda: self._accept(sock, server_id))
        return server_id

    def connect(self, host: str, port: int, tls: TlsSettings | None) -> int:
        conn_id = next(self._ids)
        self._outgoing.add(conn_id)
        threading.Thread(
            target=self._connect,
            args=(conn_id, host, port, tls),
            name=f"sandbox-connect-{conn_id}",
            daemon=True,
        ).start()
        return conn_id

    def _connect(self, conn_id: int, host: str, port: int, tls: TlsSettings | None) -> None:
        raw = None
        try:
            raw = sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            if tls is not None:
                sock = handshake(raw, tls.servername or host, tls)
            ports = (sock.getsockname()[1], sock.getpeername()[1])  # OSError if reset already
        except OSError as exc:
            if raw is not None:
                raw.close()  # at once: the peer may be waiting on this handshake
            # Posted before the connection stops counting as under way (waiting_connections),
            # so that the loop never finds nothing under way and the news not yet queued.
            self._post(self._events["disconnect"], conn_id, str(exc) or "connection failed")
            self._outgoing.discard(conn_id)
            return
        with self._lock:
            # Closed by Lua while connecting (a cancelled request), or the hub is gone.
            if self._closed or conn_id not in self._outgoing:
                sock.close()
                return
            self._sockets[conn_id] = sock
            self._watches[conn_id] = HttpWatch()
            self._ports[conn_id] = ports
        self._post(self._events["connected"], conn_id)
        self._reactor.register(sock, lambda: self._read(sock, conn_id))

    def write(self, conn_id: int, data: bytes) -> None:
        """Send all of `data` (sockets stay non-blocking; a full buffer is waited out, up
        to WRITE_TIMEOUT). A failure is a disconnect, reported to Lua like any other.

        Each send holds the lock, under which sockets are also closed: the selector
        thread may drop this connection meanwhile (the peer hung up), and a send on a
        closed socket whose descriptor was reused would write into another connection."""
        with self._lock:
            in_process = self._in_process.get(conn_id)
            if in_process is not None:
                in_process.answer(data)
                return
            watch = self._watches.get(conn_id)
            if watch is not None:
                watch.sent(data)  # before the peer can answer it
        view = memoryview(data)
        deadline = time.monotonic() + WRITE_TIMEOUT
        while view:
            with self._lock:
                sock = self._sockets.get(conn_id)
                if sock is None:
                    return  # closed or dropped: Lua hears of it (or already knows)
                try:
                    view = view[sock.send(view) :]
                    continue
                except (BlockingIOError, ssl.SSLWantWriteError):
                    fileno, want_read = sock.fileno(), False
                except ssl.SSLWantReadError:  # TLS needs the peer's next record first
                    fileno, want_read = sock.fileno(), True
                except OSError as exc:
                    failure = str(exc) or "write failed"
                    fileno = None
            if fileno is None:
                self._drop(conn_id, failure)
                return
            left = deadline - time.monotonic()
            try:
                readable = [fileno] if want_read else []
                ready = left > 0 and any(select.select(readable, [fileno], [], left)[:2])
            except (OSError, ValueError):
                ready = True  # closed meanwhile: the next round sees it
            if not ready:
                self._drop(conn_id, "peer not reading")
                return

    def close(self, conn_id: int) -> None:
        """Close at Lua's request (Lua already knows: no disconnect event)."""
        with self._lock:
            in_process = self._in_process.get(conn_id)
            if in_process is not None:
                in_process.closed = True
            self._outgoing.discard(conn_id)
            self._watches.pop(conn_id, None)
            self._ports.pop(conn_id, None)
            sock = self._sockets.pop(conn_id, None)
            listener = self._listeners.pop(conn_id, None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # the peer sees the end now
            except OSError:
                pass
            self._reactor.retire(sock)
        if listener is not None:
            self._reactor.retire(listener)

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            watched = [*self._sockets.values(), *self._listeners.values()]
            reserved = list(self._reserved.values())
            self._sockets.clear()
            self._listeners.clear()
            self._reserved.clear()
        for sock in reserved:
            sock.close()
        for sock in watched:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # the peer sees the end now
            except OSError:
                pass
            self._reactor.retire(sock)  # closed there, once no longer watched

    # -- the reactor thread -----------------------------------------------------------

    def waiting_connections(self) -> list[tuple[int, int]] | None:
        """(own port, peer's port) of each outgoing connection (net.http, a module's
        pool) waiting for an answer (http_watch.py; its peer may have parked the request:
        parking.py), or None when something may arrive any moment: a connection being
        made. (The harness's own requests have no socket: nothing arrives for them from
        outside.) What ends a wait is posted before it stops counting."""
        with self._lock:
            connections = []
            for conn_id in self._outgoing:
                watch = self._watches.get(conn_id)
                if watch is None:
                    return None  # being made
                if watch.waiting:
                    connections.append(self._ports[conn_id])
            return connections

    # -- the harness's own requests (Sandbox.http) --------------------------------------

    def open_in_process(self, port: int) -> tuple[int, InProcessConnection] | None:
        """(server id, connection) for a request of the harness's own to the server
        listening on `port`, or None when nothing listens there. The connection has no
        socket: its bytes go into and come out of the Lua state on the caller's thread
        (http_client.py), so nothing arrives from outside for it, and the clock may jump
        while Lua works on it."""
        with self._lock:
            server_id = self._ports_listened.get(port)
            if server_id is None or server_id not in self._listeners:
                return None
            connection = InProcessConnection(next(self._ids))
            self._in_process[connection.conn_id] = connection
            return server_id, connection

    def forget_in_process(self, conn_id: int) -> None:
        with self._lock:
            self._in_process.pop(conn_id, None)

    def _drop(self, conn_id: int, reason: str) -> None:
        with self._lock:
            sock = self._sockets.pop(conn_id, None)
        if sock is not None:
            self._reactor.retire(sock)
            self._post(self._events["disconnect"], conn_id, reason)
        with self._lock:
            self._watches.pop(conn_id, None)
            self._ports.pop(conn_id, None)
        self._outgoing.discard(conn_id)  # after the post: see _connect

    def _accept(self, listener: socket.socket, server_id: int) -> None:
        try:
            sock, (ip, port, *_rest) = listener.accept()
        except OSError:
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        conn_id = next(self._ids)
        with self._lock:
            if self._closed:
                sock.close()
                return
            self._sockets[conn_id] = sock
        self._post(self._events["accept"], server_id, conn_id, ip.encode(), port)
        self._reactor.register(sock, lambda: self._read(sock, conn_id))

    def _read(self, sock: socket.socket, conn_id: int) -> None:
        try:
            with self._lock:  # never while write() is sending on it (see the top)
                data = sock.recv(READ_SIZE)
                # TLS may hold decrypted bytes that select() cannot see.
                while data and isinstance(sock, ssl.SSLSocket) and sock.pending():
                    data += sock.recv(sock.pending())
        except (BlockingIOError, ssl.SSLWantReadError):
            return
        except OSError as exc:
            self._drop(conn_id, str(exc))
            return
        if data:
            self._post(self._events["incoming"], conn_id, data)
            with self._lock:  # after the post: see _connect
                watch = self._watches.get(conn_id)
                if watch is not None:
                    watch.received(data)
        else:
            self._drop(conn_id, "closed")
