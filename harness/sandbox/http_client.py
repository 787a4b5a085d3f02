"""The harness's own HTTP requests to the sandbox's HTTP server, waited for on its clock.

A request (POST /rest with an iq, say) may be answered only when a module's timer fires
or a mock backend's held request ends. So rather than block on the socket, the caller
waits on the sandbox's loop until Lua begins answering: the clock may jump meanwhile, as
in any wait, once Lua has the whole request (sockets.py tracks what of it has arrived),
and the answer is then read from the socket. The request carries what a client library
sends and no more: Host, the caller's headers, Content-Length.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable
from typing import Any

from harness.sandbox.sockets import SocketHub
from harness.target import HttpResponse, TargetError, check_http_path

METHODS_WITH_BODY = ("PATCH", "POST", "PUT")  # Content-Length: 0 when they have none

# wait_for(ready, seconds, recheck): the sandbox loop's wait (loop.Loop.wait_for).
WaitFor = Callable[..., Any]


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


def exchange(
    hub: SocketHub,
    wait_for: WaitFor,
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None,
    body: bytes | None,
    timeout: float,
) -> HttpResponse:
    """One request to 127.0.0.1:`port`; `timeout` bounds the wait for the answer on the
    sandbox's clock, and each socket operation in real time."""
    check_http_path(path)
    failure = f"HTTP {method} {path} to the sandbox failed"
    try:
        data = request_bytes(method, path, port, headers or {}, body)
    except UnicodeEncodeError as exc:
        raise TargetError(f"{failure}: {exc}") from exc
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as exc:
        raise TargetError(f"{failure}: {exc}") from exc
    try:
        connection = (sock.getsockname()[1], port)
        hub.track_request(connection, len(data))
        try:
            sock.sendall(data)
            answering = wait_for(
                lambda: True if hub.answering(connection) else None, timeout, recheck=0.05
            )
        finally:
            hub.untrack_request(connection)
        if answering is None:
            raise TargetError(f"{failure}: timed out after {timeout:g} s")
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        content = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise TargetError(f"{failure}: {exc}") from exc
    finally:
        sock.close()
    return HttpResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, content)
