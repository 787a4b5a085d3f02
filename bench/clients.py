"""Cheap load-generating clients for the benchmarks of HTTP modules.

They cost little of the CPU they share with Prosody, so that what is measured is the
server: raw HTTP/1.1 over keep-alive connections from one asyncio loop (`load`,
`round_trips`), a minimal webhook that answers 204 and counts (`WebhookSink`), and an
XMPP client that logs in with PLAIN and then only counts the messages it receives
(`RawXmppClient`).
"""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field

from bench.instrumented import cpu_seconds

# -- HTTP over keep-alive connections ----------------------------------------------------


def basic_authorization(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def http_request(
    method: str,
    path: str,
    host: str,
    authorization: str | None = None,
    body: bytes = b"",
    content_type: str = "application/json",
) -> bytes:
    """One HTTP/1.1 request, as bytes to send as often as wanted on a kept connection."""
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n"
    if authorization:
        head += f"Authorization: {authorization}\r\n"
    head += f"Content-Length: {len(body)}\r\n"
    if body:
        head += f"Content-Type: {content_type}\r\n"
    return head.encode() + b"\r\n" + body


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one Content-Length framed response; its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def open_http(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


@dataclass
class LoadResult:
    requests: int  # answered in the timed stretch
    seconds: float  # its length
    cpu: float  # CPU seconds the server ran meanwhile (0 without a pid)
    statuses: dict[int, int] = field(default_factory=dict)  # every answer, warm-up included

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        """Server CPU microseconds per request."""
        return self.cpu / max(self.requests, 1) * 1e6

    @property
    def cpu_share(self) -> float:
        """The server's CPU time over the wall time: 1.0 is one core busy all along."""
        return self.cpu / self.seconds if self.seconds else 0.0


def load(port: int, requests: list[bytes], seconds: float, pid: int | None = None) -> LoadResult:
    """Each request on its own keep-alive connection, over and over for `seconds`. Every
    connection first sends its request once untimed (the connection, a first
    authentication); then the clock and the server's CPU account start."""
    return asyncio.run(_load(port, requests, seconds, pid))


async def _load(port: int, requests: list[bytes], seconds: float, pid: int | None) -> LoadResult:
    statuses: dict[int, int] = {}
    connections = [await open_http(port) for _ in requests]

    async def exchange(index: int) -> None:
        reader, writer = connections[index]
        writer.write(requests[index])
        status = await read_response(reader)
        statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(exchange(i) for i in range(len(requests))))
    counts = [0] * len(requests)
    cpu_before = cpu_seconds(pid) if pid else 0.0
    started = time.perf_counter()
    stop_at = started + seconds

    async def repeat(index: int) -> None:
        while time.perf_counter() < stop_at:
            await exchange(index)
            counts[index] += 1

    try:
        await asyncio.gather(*(repeat(i) for i in range(len(requests))))
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_before if pid else 0.0
    finally:
        for _, writer in connections:
            writer.close()
    return LoadResult(sum(counts), elapsed, cpu, statuses)


def round_trips(port: int, request: bytes, count: int, expect: int = 200) -> list[float]:
    """Seconds per exchange, one request at a time on one kept connection (after 20
    untimed ones)."""

    async def run() -> list[float]:
        reader, writer = await open_http(port)
        seconds = []
        try:
            for n in range(count + 20):
                started = time.perf_counter()
                writer.write(request)
                status = await read_response(reader)
                if status != expect:
                    raise SystemExit(f"round trip answered HTTP {status}, not {expect}")
                if n >= 20:
                    seconds.append(time.perf_counter() - started)
        finally:
            writer.close()
        return seconds

    return asyncio.run(run())


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# -- a webhook ---------------------------------------------------------------------------


class WebhookSink:
    """Answers every POST 204 (anything else 200) and counts the POSTs, on its own thread."""

    def __init__(self) -> None:
        self.posts = 0
        self.last_post = 0.0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise SystemExit("the webhook sink did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(Exception):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                if head.startswith(b"POST"):
                    self.posts += 1
                    self.last_post = time.perf_counter()
                    writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                else:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nAccept: application/xmpp+xml\r\n"
                        b"Content-Length: 0\r\n\r\n"
                    )
                await writer.drain()
        writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stanzas"

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)


# -- XMPP --------------------------------------------------------------------------------


class RawXmppClient:
    """PLAIN login over plain TCP; afterwards a thread reads everything and counts messages
    (no XML parsing, so the recipient costs next to no CPU)."""

    def __init__(self, port: int, host: str, user: str, password: str) -> None:
        self.host = host
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.messages = 0
        self._lock = threading.Lock()
        self._open_stream()
        self._read_until(b"</stream:features>")
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        sasl = "urn:ietf:params:xml:ns:xmpp-sasl"
        self.send(f"<auth xmlns='{sasl}' mechanism='PLAIN'>{token}</auth>".encode())
        answer = self._read_until(b"success", b"failure")
        if b"success" not in answer:
            raise SystemExit(f"login of {user} failed: {answer!r}")
        self._open_stream()
        self._read_until(b"</stream:features>")
        self.send(b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
        self._read_until(b"</iq>")
        self.send(b"<presence/>")
        self.sock.settimeout(None)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _open_stream(self) -> None:
        self.send(
            f"<?xml version='1.0'?><stream:stream to='{self.host}' xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>".encode()
        )

    def _read_until(self, *tokens: bytes) -> bytes:
        while not any(token in self.buffer for token in tokens):
            data = self.sock.recv(65536)
            if not data:
                raise SystemExit(f"connection closed while waiting for {tokens}")
            self.buffer += data
        found, self.buffer = self.buffer, b""
        return found

    def _drain(self) -> None:
        tail = b""
        with suppress(OSError):
            while True:
                data = self.sock.recv(262144)
                if not data:
                    return
                chunk = tail + data
                count = chunk.count(b"<message")
                # Keep the end, so a tag split across reads is counted once.
                cut = chunk.rfind(b"<")
                tail = chunk[cut:] if cut >= 0 and b">" not in chunk[cut:] else b""
                with self._lock:
                    self.messages += count - tail.count(b"<message")

    def received(self) -> int:
        with self._lock:
            return self.messages

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.received() < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        with suppress(OSError):
            self.send(b"</stream:stream>")
        self.sock.close()
