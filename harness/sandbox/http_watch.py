"""Whether an outgoing connection still waits for its peer: the HTTP/1.x framing of what
goes out and comes back, seen from the socket.

The sandbox's clock may skip ahead only while nothing can arrive from outside (loop.py).
A connection being made can; so can one whose request has not been answered in full yet.
An idle kept-alive connection (a module's connection pool) cannot: an HTTP server does
not speak unasked. So every outgoing connection is watched: a request written opens an
exchange, the answer's framing (Content-Length, chunked, or until the close) ends it.
What is not HTTP/1.x counts as waiting for as long as the connection is open.
"""

from __future__ import annotations

NO_BODY_STATUSES = (204, 304)
LAST_CHUNK = -1


class HttpWatch:
    def __init__(self) -> None:
        self.opaque = False  # not HTTP: waiting for as long as it is open
        self._requests: list[bytes] = []  # methods of the requests not yet answered
        self._buffer = b""
        self._body_left: int | None = None  # bytes of the current body still to come
        self._chunked = False
        self._until_close = False
        self._in_head = True

    @property
    def waiting(self) -> bool:
        return self.opaque or self._until_close or bool(self._requests)

    def sent(self, data: bytes) -> None:
        """Lua wrote `data`: a request line opens an exchange (a body continues one)."""
        if self.opaque:
            return
        line = data.split(b"\r\n", 1)[0]
        words = line.split(b" ")
        if len(words) == 3 and words[2].startswith(b"HTTP/1."):
            self._requests.append(words[0].upper())
        elif not self._requests:
            self.opaque = True  # something else than a request, or a body without one

    def received(self, data: bytes) -> None:
        """The peer sent `data`: follow the answers' framing."""
        if self.opaque or self._until_close:
            return
        self._buffer += data
        while self._buffer and not (self.opaque or self._until_close):
            if self._in_head:
                progressed = self._read_head()
            elif self._chunked:
                progressed = self._read_chunk()
            else:
                progressed = self._read_body()
            if not progressed:
                return

    def _read_head(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > 65536 or not b"HTTP/1.".startswith(self._buffer[:7]):
                self.opaque = True
            return False
        head, self._buffer = self._buffer[:end], self._buffer[end + 4 :]
        lines = head.split(b"\r\n")
        status = lines[0].split(b" ")
        if len(status) < 2 or not status[0].startswith(b"HTTP/1.") or not status[1].isdigit():
            self.opaque = True
            return False
        code = int(status[1])
        if 100 <= code < 200:
            return True  # an interim answer (100 Continue): the real one follows
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        self._in_head = False
        method = self._requests[0] if self._requests else b"GET"
        if method == b"HEAD" or code in NO_BODY_STATUSES:
            self._answered()
        elif b"chunked" in headers.get(b"transfer-encoding", b""):
            self._chunked, self._body_left = True, None
        elif headers.get(b"content-length", b"").isdigit():
            self._body_left = int(headers[b"content-length"])
            if not self._body_left:
                self._answered()
        else:
            self._until_close = True  # the body ends with the connection
        return True

    def _read_body(self) -> bool:
        take = min(self._body_left or 0, len(self._buffer))
        self._buffer = self._buffer[take:]
        self._body_left = (self._body_left or 0) - take
        if self._body_left:
            return False
        self._answered()
        return True

    def _read_chunk(self) -> bool:
        if self._body_left is None:  # at a chunk's size line
            end = self._buffer.find(b"\r\n")
            if end < 0:
                return False
            try:
                self._body_left = int(self._buffer[:end].split(b";")[0].strip(), 16)
            except ValueError:
                self.opaque = True
                return False
            self._buffer = self._buffer[end + 2 :]
            if self._body_left == 0:
                self._body_left = LAST_CHUNK
        if self._body_left == LAST_CHUNK:  # trailer lines, then an empty one
            if self._buffer.startswith(b"\r\n"):
                self._buffer = self._buffer[2:]
            else:
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    return False
                self._buffer = self._buffer[end + 4 :]
            self._answered()
            return True
        if len(self._buffer) < self._body_left + 2:  # the chunk and its CRLF
            return False
        self._buffer = self._buffer[self._body_left + 2 :]
        self._body_left = None
        return True

    def _answered(self) -> None:
        if self._requests:
            self._requests.pop(0)
        self._in_head, self._chunked, self._body_left = True, False, None
