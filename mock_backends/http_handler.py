"""One HTTP/1.1 connection served as WSGI calls: request line and headers parsed with
limits, chunked bodies and `Expect: 100-continue`, keep-alive, and an answer written in one
send (status line, headers and body together: no 40 ms delayed-ACK stall). The server
that runs it is http_server.py."""

from __future__ import annotations

import io
import logging
import socket
import struct
import sys
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

if TYPE_CHECKING:
    from mock_backends.http_server import ThreadedWsgiServer

log = logging.getLogger("mock_backends.http_server")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: Largest request body accepted (the modules send small JSON/XML documents).
MAX_BODY_BYTES = 16 * 1024 * 1024
#: A keep-alive connection idle this long is closed.
IDLE_TIMEOUT_SECONDS = 30.0
#: Limits on the request head, as common servers apply them.
MAX_HEADER_LINE_BYTES = 65536
MAX_HEADER_COUNT = 100

# Answers up to this size go out head and body in one send (no delayed-ACK stall); a larger
# body (the `size` fault's 50 MB) is sent as it is rather than copied behind its head.
ONE_SEND_BYTES = 1 << 16


def call_wsgi(
    app: Callable[..., Iterable[bytes]], environ: dict[str, Any]
) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run a WSGI app on `environ`: (status line, headers, whole body)."""
    head: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
        head[:] = [status, headers]
        return lambda data: None  # the legacy write() callable is not supported

    result = app(environ, start_response)
    try:
        payload = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return head[0], head[1], payload


class RequestHeaders:
    """Request headers in arrival order with case-insensitive lookup (repeats joined by ", ").

    Replaces the stdlib's email-based parser, which costs more than the rest of a request.
    """

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs
        self._lookup: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            self._lookup[key] = f"{self._lookup[key]}, {value}" if key in self._lookup else value

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._lookup.get(name.lower(), default)

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)


class _BadRequestHead(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class DropConnection(Exception):
    """Raised by the application to close the connection without sending any answer.

    With `answer` (status line, headers, body, bytes of the body to send): send the head
    and that much of the body first, then reset the connection (an answer cut short)."""

    def __init__(self, answer: tuple[str, list[tuple[str, str]], bytes, int] | None = None):
        super().__init__()
        self.answer = answer


class _BodyTooLarge(Exception):
    pass


class _BadChunkedBody(Exception):
    pass


class WsgiRequestHandler(BaseHTTPRequestHandler):
    """Runs one WSGI call per request; the stdlib parses the request line and headers."""

    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.1"  # so even an unparsable request gets a status line
    server_version = "prosody-harness-mock"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_SECONDS
    # Errors found before the application runs (bad framing, bad request line) in JSON too.
    error_content_type = "application/json"
    error_message_format = '{"error": "%(code)d %(message)s"}'
    server: ThreadedWsgiServer

    def setup(self) -> None:
        super().setup()
        self.server.track_connection(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack_connection(self.connection)

    def parse_request(self) -> bool:
        """Request line and headers; on a bad head, answer the error and return False."""
        self.command = ""
        self.request_version = self.default_request_version
        self.close_connection = True
        self.requestline = self.raw_requestline.decode("latin-1").rstrip("\r\n")
        try:
            self._parse_request_line()
            self.headers = RequestHeaders(self._read_header_lines())  # type: ignore[assignment]
        except _BadRequestHead as exc:
            self.send_error(exc.status, str(exc))
            return False
        connection = (self.headers.get("Connection") or "").lower()
        if "close" in connection:
            self.close_connection = True
        elif "keep-alive" in connection or self.request_version == "HTTP/1.1":
            self.close_connection = False
        expect = (self.headers.get("Expect") or "").lower()
        if expect == "100-continue" and self.request_version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def _parse_request_line(self) -> None:
        words = self.requestline.split()
        if len(words) != 3:
            raise _BadRequestHead(400, "bad request line")
        self.command, self.path, version = words
        if version not in ("HTTP/1.0", "HTTP/1.1"):
            if not version.startswith("HTTP/"):
                raise _BadRequestHead(400, "bad request version")
            raise _BadRequestHead(505, "only HTTP/1.0 and HTTP/1.1 are served")
        self.request_version = version
        if not self.path.startswith("/") and self.path != "*":
            raise _BadRequestHead(400, "the request target must be a path")

    def _read_header_lines(self) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        while True:
            line = self.rfile.readline(MAX_HEADER_LINE_BYTES + 1)
            if len(line) > MAX_HEADER_LINE_BYTES:
                raise _BadRequestHead(431, "header line too long")
            if line in (b"\r\n", b"\n", b""):
                return pairs
            if len(pairs) >= MAX_HEADER_COUNT:
                raise _BadRequestHead(431, "too many headers")
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon or not name or name != name.strip() or " " in name:
                raise _BadRequestHead(400, "malformed header line")
            pairs.append((name, value.strip()))

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError, OSError):
            # The peer went away, the idle timeout passed or stop() shut the socket.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s %s", self.address_string(), format % args)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b""
        length = int(length_text)  # ValueError handled by the caller (400)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_BODY_BYTES:
            raise _BodyTooLarge
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise _BadChunkedBody from exc
            if size == 0:
                while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                    pass  # trailers are ignored
                return bytes(body)
            if len(body) + size > MAX_BODY_BYTES:
                raise _BodyTooLarge
            body += self.rfile.read(size)
            self.rfile.readline(8)  # CRLF after the chunk

    def _environ(self, body: bytes) -> dict[str, Any]:
        raw_path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": self.path,
            "REQUEST_URI": self.path,
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": str(self.client_address[1]),
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        content_type = self.headers.get("Content-Type")
        if content_type is not None:
            environ["CONTENT_TYPE"] = content_type
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING"):
                continue  # the body is already de-chunked and its length is CONTENT_LENGTH
            environ[key] = f"{environ[key]}, {value}" if key in environ else value
        return environ

    def _run_wsgi(self) -> None:
        try:
            body = self._read_body()
        except _BodyTooLarge:
            self.close_connection = True
            self.send_error(413, "request body too large")
            return
        except (ValueError, _BadChunkedBody):
            self.close_connection = True
            self.send_error(400, "malformed request body framing")
            return

        try:
            status, headers, payload = call_wsgi(self.server.app, self._environ(body))
        except DropConnection as drop:
            self.close_connection = True
            if drop.answer is not None:
                status, headers, payload, keep = drop.answer
                self._send(status, headers, payload, keep)
                self._reset_connection()
            else:
                self._abort_connection()
            return
        except Exception:
            log.exception("unhandled error answering %s %s", self.command, self.path)
            self.close_connection = True
            self.send_error(500, "internal error in the mock backend")
            return
        self._send(status, headers, payload)

    def _send(
        self, status: str, headers: list[tuple[str, str]], payload: bytes, keep: int | None = None
    ) -> None:
        """Write the answer in one send (a large body in a second one, not copied); with
        `keep`, only that many bytes of the body (the head still announces all of it), or
        half the head for an empty body."""
        lines = [f"{self.protocol_version} {status}"]
        has_length = False
        for name, value in headers:
            lower = name.lower()
            if lower == "content-length":
                has_length = True
            elif lower == "connection" and value.lower() == "close":
                self.close_connection = True
            lines.append(f"{name}: {value}")
        if not has_length:
            lines.append(f"Content-Length: {len(payload)}")
        lines.append(f"Date: {self.date_time_string()}")
        lines.append(f"Server: {self.server_version}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self.command == "HEAD":
            payload = b""
        if keep is None and len(payload) > ONE_SEND_BYTES:
            self.wfile.write(head)
            self.wfile.write(payload)
        elif keep is None:
            self.wfile.write(head + payload)
        else:
            self.wfile.write(head + payload[:keep] if payload else head[: len(head) // 2])

    def _reset_connection(self) -> None:
        """Close with a TCP reset (SO_LINGER 0) instead of an orderly shutdown."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _abort_connection(self) -> None:
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _run_wsgi
