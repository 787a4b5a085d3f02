"""How to tell that a Prosody started as asked: its log, its c2s stream, its HTTP server."""

from __future__ import annotations

import http.client
import socket

from harness.target import LogLine

# Log messages meaning the server cannot be what the profile asked for.
FATAL_LOG_MESSAGES = (
    "Unable to load module",
    "Error initializing module",
    "Failed to activate service",
    "Multiple services configured to listen on the same port",
)
# Another process took a port between our pick and Prosody's bind: pick again.
PORT_TAKEN = "Failed to open server port"


def probe_c2s(port: int, host: str) -> bool:
    """Whether an XMPP stream opens on `port`: Prosody's event loop runs, startup is over.

    (A bare TCP connect is not enough: the kernel accepts on the listen backlog while
    Prosody is still loading modules.)
    """
    opening = (
        f"<?xml version='1.0'?><stream:stream to='{host}' xmlns='jabber:client' "
        "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
    )
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(opening.encode())
            received = b""
            while b"</stream:features>" not in received:
                chunk = sock.recv(4096)
                if not chunk:
                    return False
                received += chunk
            sock.sendall(b"</stream:stream>")
            return True
    except OSError:
        return False


def probe_http(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def fatal_start_error(lines: list[LogLine]) -> str | None:
    """The first log message saying the server cannot run as configured, if any."""
    for line in lines:
        if line.level == "error" and any(text in line.message for text in FATAL_LOG_MESSAGES):
            return line.message.splitlines()[0]
    return None


def activated(lines: list[LogLine], service: str, port: int) -> bool:
    """Whether the log says `service` listens on `port` (the proof it is this server's)."""
    prefix = f"Activated service '{service}' on "
    return any(
        line.source == "portmanager"
        and line.message.startswith(prefix)
        and f"]:{port}" in line.message
        for line in lines
    )
