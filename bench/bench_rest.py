"""What mod_rest sustains on real Prosody, with internal_hashed accounts (Basic auth).

    .venv/bin/python bench/bench_rest.py [--modules DIR] [--against DIR] [--prosody PATH|0.12|13]
                                         [--seconds S] [--iqs N] [--webhook-messages M]
                                         [--rounds R] [--log-level debug|info]

Prints, for the modules in --modules (default lua_modules/):
  * chat messages/s through POST /rest (JSON, Basic auth as one user per connection) at
    1, 4 and 16 keep-alive connections, each run for --seconds; every message goes to an
    online recipient, and the run waits until she has them all;
  * iq round trip: GET /rest/ping/localhost, one at a time (median, p99);
  * webhook deliveries/s: a client sends --webhook-messages messages to a component whose
    rest_callback_url is a minimal local HTTP sink answering 204; the time until the sink
    has seen them all.
With --against DIR, a second server runs the modules from DIR (e.g. the upstream module:
a folder holding mod_rest/ with its res/); the two are measured alternately, --rounds
times each, and each figure is printed for both with the ratio (against / modules).
The load generator is asyncio with raw sockets, so it costs little of the CPU it shares
with Prosody; Prosody's own CPU time per request is printed too, as the figure that
depends least on what else the machine runs. Prosody logs at debug level as in every
harness run, or at info (--log-level info) as a production server does; every arm
alike. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import harness.targets.prosody as prosody_target
from harness.profile import ComponentProfile, Profile, VirtualHostProfile
from harness.prosody_config import ServerLayout
from harness.targets.prosody import ProsodyTarget

HOST = "localhost"
COMPONENT = "rest.localhost"
PASSWORD = "bench-s3cret"
SECRET = "bench-component"
CONCURRENCY = (1, 4, 16)
REPO_MODULES = Path(__file__).resolve().parents[1] / "lua_modules"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


# -- a minimal XMPP client: log in, then send and count --------------------------------------


class RawXmppClient:
    """PLAIN login over plain TCP; afterwards a thread reads everything and counts messages
    (no XML parsing, so the recipient costs next to no CPU)."""

    def __init__(self, port: int, user: str, password: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.messages = 0
        self._lock = threading.Lock()
        self._open_stream()
        self._read_until(b"</stream:features>")
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        self.sock.sendall(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
                          f"{token}</auth>".encode())
        answer = self._read_until(b"success", b"failure")
        if b"success" not in answer:
            raise RuntimeError(f"login of {user} failed: {answer!r}")
        self.buffer = b""
        self._open_stream()
        self._read_until(b"</stream:features>")
        self.sock.sendall(b"<iq type='set' id='bind1'>"
                          b"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
        self._read_until(b"</iq>")
        self.sock.sendall(b"<presence/>")
        self.sock.settimeout(None)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _open_stream(self) -> None:
        self.sock.sendall(f"<?xml version='1.0'?><stream:stream to='{HOST}' xmlns='jabber:client' "
                          "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>".encode())

    def _read_until(self, *tokens: bytes) -> bytes:
        while not any(token in self.buffer for token in tokens):
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError(f"connection closed while waiting for {tokens}")
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
                with self._lock:
                    self.messages += chunk.count(b"<message")
                # Keep the end, so a tag split across reads is counted once.
                cut = chunk.rfind(b"<")
                tail = chunk[cut:] if cut >= 0 and b">" not in chunk[cut:] else b""
                if tail:
                    with self._lock:
                        self.messages -= tail.count(b"<message")

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
            self.sock.sendall(b"</stream:stream>")
        self.sock.close()


# -- a minimal keep-alive HTTP load generator ------------------------------------------------


async def read_response(reader: asyncio.StreamReader) -> int:
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


def http_request(method: str, path: str, user: str, body: bytes = b"",
                 content_type: str = "application/json") -> bytes:
    token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    head = (f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Basic {token}\r\n"
            f"Accept: application/json\r\n")
    if body:
        head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def load(port: int, requests: list[bytes], seconds: float) -> tuple[int, dict[int, int]]:
    """Each request on its own keep-alive connection, repeated until `seconds` have passed."""
    statuses: dict[int, int] = {}
    stop_at = time.perf_counter() + seconds

    async def connection(request: bytes) -> int:
        reader, writer = await open_http(port)
        done = 0
        try:
            while time.perf_counter() < stop_at:
                writer.write(request)
                status = await read_response(reader)
                statuses[status] = statuses.get(status, 0) + 1
                done += 1
        finally:
            writer.close()
        return done

    counts = await asyncio.gather(*(connection(request) for request in requests))
    return sum(counts), statuses


async def round_trips(port: int, request: bytes, count: int) -> list[float]:
    reader, writer = await open_http(port)
    seconds = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            writer.write(request)
            status = await read_response(reader)
            if status != 200:
                raise RuntimeError(f"ping answered {status}")
            seconds.append(time.perf_counter() - started)
    finally:
        writer.close()
    return seconds


# -- the webhook sink ------------------------------------------------------------------------


class WebhookSink:
    """Answers every request 204 (OPTIONS 200) and counts the POSTs, on its own thread."""

    def __init__(self) -> None:
        self.posts = 0
        self.last_post = 0.0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024))
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
                    writer.write(b"HTTP/1.1 200 OK\r\nAccept: application/xmpp+xml\r\n"
                                 b"Content-Length: 0\r\n\r\n")
                await writer.drain()
        writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stanzas"

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)


# -- one arm: a server with one modules folder -----------------------------------------------


@dataclass
class Figures:
    rates: dict[int, list[float]] = field(default_factory=lambda: {c: [] for c in CONCURRENCY})
    # Prosody's CPU time per request: what one core would sustain, whatever else runs.
    cpu_us: dict[int, list[float]] = field(default_factory=lambda: {c: [] for c in CONCURRENCY})
    floor_cpu_us: list[float] = field(default_factory=list)
    rtt_median: list[float] = field(default_factory=list)
    rtt_p99: list[float] = field(default_factory=list)
    webhook: list[float] = field(default_factory=list)
    webhook_cpu_us: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)


@dataclass
class Arm:
    name: str
    modules: str
    target: ProsodyTarget
    sink: WebhookSink
    marie: RawXmppClient
    sender: RawXmppClient
    delivered: int = 0
    figures: Figures = field(default_factory=Figures)


def use_log_level(level: str) -> None:
    """The harness always logs at debug; a production server logs at info. The level is a
    field of the layout the prosody target renders its config from, with no option for
    it, so this swaps in a layout class with another default."""
    if level == ServerLayout.log_level:
        return

    @dataclass
    class Layout(ServerLayout):
        log_level: str = level

    prosody_target.ServerLayout = Layout


def profile(sink_url: str) -> Profile:
    return Profile(
        hosts={HOST: VirtualHostProfile(HOST, modules_enabled=["rest"])},
        components={COMPONENT: ComponentProfile(COMPONENT, "rest", options={
            "component_secret": SECRET, "rest_callback_url": sink_url})},
    )


@contextmanager
def arm(name: str, modules: str, prosody: str | None) -> Iterator[Arm]:
    sink = WebhookSink()
    target = ProsodyTarget(profile(sink.url), modules_dir=modules, prosody=prosody)
    target.start()
    try:
        for user in ["marie", "sender", *(f"bot{i}" for i in range(max(CONCURRENCY)))]:
            target.create_user(user, HOST, PASSWORD)
        marie = RawXmppClient(target.c2s_port, "marie", PASSWORD)
        sender = RawXmppClient(target.c2s_port, "sender", PASSWORD)
        time.sleep(0.2)
        yield Arm(name, modules, target, sink, marie, sender)
        marie.close()
        sender.close()
    finally:
        target.stop()
        sink.stop()


def chat_request(user: str) -> bytes:
    body = json.dumps({"kind": "message", "type": "chat", "to": f"marie@{HOST}",
                       "body": "benchmark message"}).encode()
    return http_request("POST", "/rest", user, body)


def measure_messages(a: Arm, connections: int, seconds: float) -> tuple[float, float]:
    """(messages/s, Prosody CPU microseconds per message)."""
    requests = [chat_request(f"bot{i}") for i in range(connections)]
    cpu_before = cpu_seconds(a.target.pid)
    started = time.perf_counter()
    done, statuses = asyncio.run(load(a.target.http_port, requests, seconds))
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(a.target.pid) - cpu_before
    for status, count in statuses.items():
        a.figures.statuses[status] = a.figures.statuses.get(status, 0) + count
    a.delivered += statuses.get(202, 0)
    if not a.marie.wait_for(a.delivered, 30):
        print(f"  ({a.name}: only {a.marie.received()} of {a.delivered} messages arrived)")
    return done / elapsed, cpu / max(done, 1) * 1e6


def measure_floor(a: Arm, seconds: float) -> float:
    """Prosody CPU microseconds per request that mod_rest refuses at once (PUT: 405, no
    authentication, nothing sent): what the HTTP server itself costs."""
    request = f"PUT /rest HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 0\r\n\r\n".encode()
    cpu_before = cpu_seconds(a.target.pid)
    done, _ = asyncio.run(load(a.target.http_port, [request] * 4, seconds))
    return (cpu_seconds(a.target.pid) - cpu_before) / max(done, 1) * 1e6


def measure_round_trips(a: Arm, count: int) -> list[float]:
    request = http_request("GET", "/rest/ping/localhost", "bot0")
    return asyncio.run(round_trips(a.target.http_port, request, count))


def measure_webhook(a: Arm, messages: int) -> tuple[float, float]:
    """(deliveries/s, Prosody CPU microseconds per delivery)."""
    before = a.sink.posts
    cpu_before = cpu_seconds(a.target.pid)
    stanza = (f"<message to='bot@{COMPONENT}' type='chat'><body>to the webhook</body>"
              f"</message>").encode()
    started = time.perf_counter()
    batch = 100
    for sent in range(0, messages, batch):
        a.sender.send(stanza * min(batch, messages - sent))
    deadline = time.monotonic() + 60
    while a.sink.posts - before < messages and time.monotonic() < deadline:
        time.sleep(0.002)
    got = a.sink.posts - before
    cpu = cpu_seconds(a.target.pid) - cpu_before
    if got < messages:
        print(f"  ({a.name}: the webhook saw {got} of {messages} messages)")
    return got / (a.sink.last_post - started), cpu / max(got, 1) * 1e6


def warm_up(a: Arm) -> None:
    measure_messages(a, 4, 0.5)
    measure_round_trips(a, 50)
    measure_webhook(a, 100)


def measure_round(a: Arm, args: argparse.Namespace) -> None:
    for connections in CONCURRENCY:
        rate, cpu_us = measure_messages(a, connections, args.seconds)
        a.figures.rates[connections].append(rate)
        a.figures.cpu_us[connections].append(cpu_us)
    a.figures.floor_cpu_us.append(measure_floor(a, args.seconds))
    rtts = [s * 1000 for s in measure_round_trips(a, args.iqs)]
    a.figures.rtt_median.append(statistics.median(rtts))
    a.figures.rtt_p99.append(sorted(rtts)[min(len(rtts) - 1, int(0.99 * len(rtts)))])
    rate, cpu_us = measure_webhook(a, args.webhook_messages)
    a.figures.webhook.append(rate)
    a.figures.webhook_cpu_us.append(cpu_us)


# -- report ----------------------------------------------------------------------------------


def line(label: str, values: list[float | None], unit: str, fmt: str = "{:8.0f}") -> str:
    shown = [fmt.format(v) if v is not None else "     n/a" for v in values]
    text = f"{label:34s}" + "   ".join(f"{s} {unit}" for s in shown)
    if len(values) == 2 and all(v for v in values):
        text += f"   ratio {values[1] / values[0]:5.2f}"
    return text


def report(arms: list[Arm]) -> None:
    names = " / ".join(f"{a.name} ({a.modules})" for a in arms)
    print(f"figures: median of the rounds; {names}")
    for connections in CONCURRENCY:
        print(line(f"chat messages/s, {connections:2d} connection(s)",
                   [statistics.median(a.figures.rates[connections]) for a in arms], "msg/s"))
    for connections in CONCURRENCY:
        cpu = [statistics.median(a.figures.cpu_us[connections]) for a in arms]
        print(line(f"Prosody CPU per message, {connections:2d} conn.", cpu, "us ", "{:8.1f}"))
        print(line("  = messages/s one core sustains", [1e6 / c for c in cpu], "msg/s"))
    print(line("HTTP floor: CPU per PUT -> 405",
               [statistics.median(a.figures.floor_cpu_us) for a in arms], "us ", "{:8.1f}"))
    print(line("iq round trip, median", [statistics.median(a.figures.rtt_median) for a in arms],
               "ms", "{:8.2f}"))
    print(line("iq round trip, p99", [statistics.median(a.figures.rtt_p99) for a in arms],
               "ms", "{:8.2f}"))
    print(line("webhook deliveries/s", [statistics.median(a.figures.webhook) for a in arms],
               "/s"))
    print(line("Prosody CPU per delivery",
               [statistics.median(a.figures.webhook_cpu_us) for a in arms], "us ", "{:8.1f}"))
    for a in arms:
        statuses = ", ".join(f"{code}: {count}"
                             for code, count in sorted(a.figures.statuses.items()))
        print(f"{a.name}: HTTP statuses of the message runs: {statuses}; "
              f"the recipient got {a.marie.received()} messages")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", metavar="DIR", default=str(REPO_MODULES),
                        help="modules folder to measure (default: lua_modules/)")
    parser.add_argument("--against", metavar="DIR",
                        help="a second modules folder, measured alternately with the first")
    parser.add_argument("--prosody", metavar="PATH", help="prosody launcher, or 0.12 / 13")
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="length of each messages/s run (3)")
    parser.add_argument("--iqs", type=int, default=500, help="timed iq round trips (500)")
    parser.add_argument("--webhook-messages", type=int, default=2000,
                        help="messages sent to the webhook per round (2000)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds per arm; with --against the arms alternate (1)")
    parser.add_argument("--log-level", choices=["debug", "info"], default="debug",
                        help="Prosody's log level: debug as in every harness run (default), "
                        "or info as a production server logs")
    args = parser.parse_args()
    use_log_level(args.log_level)
    print(f"Prosody logs at {args.log_level} level")

    folders = [("modules", args.modules)] + ([("against", args.against)] if args.against else [])
    with arm(*folders[0], args.prosody) as first:
        arms = [first]
        with (arm(*folders[1], args.prosody) if args.against else _none()) as second:
            if second is not None:
                arms.append(second)
            for a in arms:
                warm_up(a)
            for _ in range(args.rounds):
                for a in arms:
                    measure_round(a, args)
            report(arms)


@contextmanager
def _none() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    main()
