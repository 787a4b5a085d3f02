"""One raw HTTP/1.1 exchange on its own connection: send bytes as they are (broken ones
included), read what comes back within a bound, and say how it ended."""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field

ANSWERED, CLOSED, RESET, TIMEOUT = "answered", "closed", "reset", "timeout"
HEAD_END = b"\r\n\r\n"
STATUS_LINE = re.compile(rb"^HTTP/(\d)\.(\d) (\d{3})")


@dataclass
class RawResponse:
    """How one exchange ended: `outcome` is ANSWERED (a whole response), CLOSED (the
    server closed before one), RESET or TIMEOUT (nothing complete within the bound)."""

    outcome: str
    seconds: float
    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    raw_head: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def content_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()


def exchange(
    host: str, port: int, request: bytes, bound: float, half_close: bool = False
) -> RawResponse:
    head_request = request.startswith(b"HEAD ")
    """Send `request` on a new connection and read one response, for at most `bound`
    seconds in all. With half_close the sending side is shut once the request is out (a
    server may take that for the client going away: Prosody does)."""
    started = time.monotonic()
    deadline = started + bound
    received = b""
    try:
        sock = socket.create_connection((host, port), timeout=bound)
    except OSError:
        return RawResponse(RESET, time.monotonic() - started)
    try:
        try:
            sock.sendall(request)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything: read on
        while True:
            parsed = _parse(received, no_body=head_request)
            if parsed is not None:
                return _answered(parsed, time.monotonic() - started)
            left = deadline - time.monotonic()
            if left <= 0:
                return RawResponse(TIMEOUT, time.monotonic() - started, raw_head=received[:2000])
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return RawResponse(TIMEOUT, time.monotonic() - started, raw_head=received[:2000])
            except ConnectionResetError:
                return _ended(received, RESET, started, head_request)
            if not chunk:
                return _ended(received, CLOSED, started, head_request)
            received += chunk
    finally:
        sock.close()


def _ended(received: bytes, outcome: str, started: float, no_body: bool) -> RawResponse:
    """The connection ended: a response read until the close counts as answered."""
    parsed = _parse(received, at_end=True, no_body=no_body)
    if parsed is not None:
        return _answered(parsed, time.monotonic() - started)
    return RawResponse(outcome, time.monotonic() - started, raw_head=received[:2000])


def _answered(
    parsed: tuple[int, list[tuple[str, str]], bytes, bytes], seconds: float
) -> RawResponse:
    status, headers, body, head = parsed
    return RawResponse(ANSWERED, seconds, status, headers, body, head)


def _parse(
    data: bytes, at_end: bool = False, no_body: bool = False
) -> tuple[int, list[tuple[str, str]], bytes, bytes] | None:
    """(status, headers, body, head) once a whole response is in `data`, else None."""
    head, found, rest = data.partition(HEAD_END)
    if not found:
        return None
    lines = head.split(b"\r\n")
    match = STATUS_LINE.match(lines[0])
    if not match:
        return None
    status = int(match.group(3))
    headers = []
    for line in lines[1:]:
        name, colon, value = line.decode("latin-1").partition(":")
        if colon:
            headers.append((name.strip(), value.strip()))
    lookup = {name.lower(): value for name, value in headers}
    if no_body or status in (204, 304) or 100 <= status < 200:
        return status, headers, b"", head
    if "chunked" in lookup.get("transfer-encoding", "").lower():
        body = _dechunk(rest)
        if body is None:
            return (status, headers, rest, head) if at_end else None
        return status, headers, body, head
    if "content-length" in lookup:
        try:
            length = int(lookup["content-length"])
        except ValueError:
            length = -1
        if 0 <= length <= len(rest):
            return status, headers, rest[:length], head
        return None
    return (status, headers, rest, head) if at_end else None


def _dechunk(data: bytes) -> bytes | None:
    body = b""
    while True:
        size_line, found, data = data.partition(b"\r\n")
        if not found:
            return None
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            return None
        if size == 0:
            return body
        if len(data) < size + 2:
            return None
        body, data = body + data[:size], data[size + 2 :]


def build_request(
    method: str,
    target: str,
    headers: list[tuple[str, str | None]],
    body: bytes,
    version: str = "HTTP/1.1",
    add_length: bool = True,
) -> bytes:
    """Bytes of a request; a Content-Length is added for a body unless one is given (or
    add_length is off). Header values go out as latin-1, so any byte can be sent."""
    names = {name.lower() for name, _ in headers}
    if add_length and body and "content-length" not in names and "transfer-encoding" not in names:
        headers = [*headers, ("Content-Length", str(len(body)))]
    line = f"{method} {target} {version}".rstrip() if version else f"{method} {target}"
    fields = [name if value is None else f"{name}: {value}" for name, value in headers]
    head = "\r\n".join([line, *fields])  # a value of None: a line without a colon
    return head.encode("latin-1", "replace") + HEAD_END + body
