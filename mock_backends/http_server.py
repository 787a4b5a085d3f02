"""A threaded HTTP/1.1 WSGI server for the mock backends, run in a background thread.

Why not waitress: measured on this 2-core machine, waitress serves a Flask GET at about
1,900 requests/s because every request is handed from its I/O loop to a worker thread and
back, and WSGI gives no way to drop a connection without an answer (a fault the mocks must
inject). Here a connection is served start to end by one (reused) worker thread, Nagle is
off and the status line, headers and body leave in one send (so the 40 ms delayed-ACK stall
cannot happen). It supports keep-alive, chunked request bodies, `Expect: 100-continue`,
limits on the request head and body, idle timeouts, and stops within a bounded time even
with open keep-alive connections.
"""

from __future__ import annotations

import logging
import queue
import selectors
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from typing import Any

from mock_backends.http_handler import (
    DropConnection,
    RequestHeaders,
    WsgiApp,
    WsgiRequestHandler,
)

log = logging.getLogger("mock_backends.http_server")

#: A TLS client that has not finished its handshake by then is dropped.
HANDSHAKE_TIMEOUT_SECONDS = 10.0

__all__ = ["BackgroundServer", "DropConnection", "RequestHeaders", "ThreadedWsgiServer"]


class _ConnectionWorkers:
    """Threads that serve connections: an idle one is reused, else a new one is started.

    Reuse saves starting a thread per connection (Prosody's net.http opens a connection per
    request); threads idle for IDLE_WORKER_SECONDS exit, so the pool shrinks back.
    """

    IDLE_WORKER_SECONDS = 30.0

    def __init__(self, serve: Callable[[Any], None], name: str) -> None:
        self._serve = serve
        self._name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._closed = False

    def submit(self, job: Any) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("server is stopping")
            reuse = self._idle > 0
            if reuse:
                self._idle -= 1
            self._queue.put(job)
        if not reuse:
            threading.Thread(target=self._work, name=self._name, daemon=True).start()

    def close(self) -> None:
        """Let idle workers exit now; busy ones exit after their connection ends."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, 0
            for _ in range(idle):
                self._queue.put(None)

    def _work(self) -> None:
        while True:
            try:
                job = self._queue.get(timeout=self.IDLE_WORKER_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._idle -= 1
                        return
                continue
            if job is None:
                return
            self._serve(job)
            with self._lock:
                if self._closed:
                    return
                self._idle += 1


class ThreadedWsgiServer(socketserver.TCPServer):
    """Each connection served by a (reused) thread; tracks connections so stop() can close
    idle keep-alive ones."""

    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self, app: WsgiApp, host: str, port: int, tls: ssl.SSLContext | None = None
    ) -> None:
        self.app = app
        self.tls = tls
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._workers = _ConnectionWorkers(self._serve_connection, "mock-http-connection")
        super().__init__((host, port), WsgiRequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        try:
            self._workers.submit((request, client_address))
        except RuntimeError:
            self.shutdown_request(request)

    def _serve_connection(self, job: tuple[Any, Any]) -> None:
        request, client_address = job
        try:
            if self.tls is not None:
                # The handshake happens here, in the connection's own thread, bounded:
                # a client that refuses the certificate just ends its connection.
                request.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
                try:
                    request = self.tls.wrap_socket(request, server_side=True)
                except (OSError, ssl.SSLError) as exc:
                    log.info("TLS handshake with %s failed: %s", client_address, exc)
                    return
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("error serving a connection from %s", client_address)

    def server_close(self) -> None:
        super().server_close()
        self._workers.close()

    def track_connection(self, conn: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(conn)

    def untrack_connection(self, conn: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(conn)

    def close_all_connections(self) -> None:
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class BackgroundServer:
    """Serves a WSGI app on host:port (0 = a free port) from a background thread, over
    TLS when given a server context."""

    def __init__(
        self,
        app: WsgiApp,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._server = ThreadedWsgiServer(app, host, port, tls)
        self._server.timeout = 0.05  # handle_request's own wait: the connection is there
        self.host, self.port = self._server.server_address[:2]
        # stop() writes here to end the accept loop at once (socketserver's serve_forever
        # only looks for a stop every poll interval: 25 ms per backend on average).
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"mock-http-{self.port}", daemon=True
        )
        self._stopped = False
        self._stop_lock = threading.Lock()
        self._thread.start()

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._server, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._stopped:
                ready = selector.select()
                if self._stopped:
                    return
                if any(key.fileobj is self._server for key, _ in ready):
                    self._server.handle_request()  # the connection waiting: no wait here

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close open connections and wait (bounded) for the loop to end."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        self._wake_writer.send(b"x")
        self._thread.join(timeout)
        self._server.server_close()
        self._server.close_all_connections()
        self._wake_reader.close()
        self._wake_writer.close()
