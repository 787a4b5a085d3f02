"""The harness's own HTTP requests to the sandbox's HTTP server, in process.

The request goes to Prosody's HTTP server as a connection its listener accepts and
reads, but with no socket: the bytes are handed to Lua on the caller's thread, in the
pieces a socket would bring them in, and what Lua writes back is collected (sockets.py's
InProcessConnection). The caller then waits on the sandbox's loop until the answer is
complete: a request answered only when a module's timer fires or a mock backend's held
request ends (POST /rest with an iq, say) lets the clock jump meanwhile, as any wait
does. No thread and no socket stand between the two, which made a request cost three
times as much. The request carries what a client library sends and no more: Host, the
caller's headers, Content-Length. Other clients (a mock backend, a browser) still reach
the server on its real port.
"""

from __future__ import annotations

import http.client
import io
from collections.abc import Callable
from typing import Any

from harness.sandbox.sockets import READ_SIZE, InProcessConnection, SocketHub
from harness.target import HttpResponse, TargetError, check_http_path

METHODS_WITH_BODY = ("PATCH", "POST", "PUT")  # Content-Length: 0 when they have none
PEER_IP = b"127.0.0.1"

# wait_for(ready, seconds): the sandbox loop's wait (loop.Loop.wait_for).
WaitFor = Callable[..., Any]
# deliver(event, *args): a net.server event (accept, incoming, disconnect) handed to
# Lua now, with the state held (Sandbox._deliver through the loop).
Deliver = Callable[..., None]


def request_bytes(
    method: str, path: str, port: int, headers: dict[str, str], body: bytes | None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1"]
    if not any(name.lower() == "host" for name in headers):
        lines.append(f"Host: 127.0.0.1:{port}")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if not any(name.lower() == "content-length" for name in headers):
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        elif method.upper() in METHODS_WITH_BODY:
            lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class _Answered:
    """What Lua wrote, as the socket http.client reads a response from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> io.BytesIO:
        del mode
        return io.BytesIO(self._data)


def _parse(answered: bytes, method: str) -> HttpResponse:
    response = http.client.HTTPResponse(_Answered(answered), method=method)  # type: ignore[arg-type]
    response.begin()
    content = response.read()
    return HttpResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, content)


def exchange(
    hub: SocketHub,
    deliver: Deliver,
    wait_for: WaitFor,
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None,
    body: bytes | None,
    timeout: float,
) -> HttpResponse:
    """One request to the server listening on `port`; `timeout` bounds the wait for the
    whole answer on the sandbox's clock."""
    check_http_path(path)
    failure = f"HTTP {method} {path} to the sandbox failed"
    try:
        data = request_bytes(method, path, port, headers or {}, body)
    except UnicodeEncodeError as exc:
        raise TargetError(f"{failure}: {exc}") from exc
    opened = hub.open_in_process(port)
    if opened is None:
        raise TargetError(f"{failure}: nothing listens on port {port}")
    server_id, connection = opened
    try:
        connection.ask(data)
        deliver("accept", server_id, connection.conn_id, PEER_IP, _peer_port(connection))
        for start in range(0, len(data), READ_SIZE):  # as a socket's reads would bring it
            if connection.closed:
                break  # answered (and closed) before the rest of the body: a client stops
            deliver("incoming", connection.conn_id, data[start : start + READ_SIZE])
        done = wait_for(lambda: True if connection.complete else None, timeout)
        if done is None:
            raise TargetError(f"{failure}: timed out after {timeout:g} s")
        answered = bytes(connection.answered)
        if not answered:
            raise TargetError(f"{failure}: Remote end closed connection without response")
        try:
            return _parse(answered, method)
        except http.client.HTTPException as exc:
            raise TargetError(f"{failure}: {type(exc).__name__}: {exc}") from exc
    finally:
        try:
            if not connection.closed:  # the client hangs up, as one does after its answer
                deliver("disconnect", connection.conn_id, "closed")
        except TargetError:
            pass  # the sandbox stopped meanwhile: there is no one left to tell
        hub.forget_in_process(connection.conn_id)


def _peer_port(connection: InProcessConnection) -> int:
    """A client port for Prosody's logs: one of the ephemeral range, never reused soon."""
    return 32768 + connection.conn_id % 28000
