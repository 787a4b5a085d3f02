"""Requests/s and latency percentiles of each mock backend on loopback.

Each backend runs as `prosody-harness mock KIND` in its own process (as a developer or CI
would run it), so the load generator does not share its interpreter lock. The load generator
speaks raw HTTP/1.1 over keep-alive sockets from a few threads, keeping its own cost per
request small next to the server's.

    .venv/bin/python bench/bench_mocks.py [--seconds 3] [--concurrency 1,4,16]

A second table times a fresh backend's start and stop in this process, as the runner
starts one for every scenario that declares it (`--startup-rounds`, 0 for none).

No Prosody runs here and no module is measured, so of the options the side-by-side
benchmarks share (--modules, --against/--against-commit, --log-level, --prosody) it takes
none: the mocks are the harness's own Python web services, measured on their own.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROSTER_DATA = {
    "rosters": {
        "john": {
            "marie@localhost": {"name": "Marie", "groups": ["Friends"]},
            "michael@localhost": {"name": "Michael", "groups": ["Friends", "Work"]},
            "aaron@localhost": {"name": "Aaron"},
        }
    }
}

JSON_STANZA = json.dumps(
    {
        "kind": "message",
        "type": "chat",
        "from": "user@localhost/phone",
        "to": "bot@rest.localhost",
        "body": "Hello",
    }
).encode()
XML_STANZA = (
    b'<message type="chat" from="user@localhost/phone" to="bot@rest.localhost">'
    b"<body>Hello</body></message>"
)


def _post(path: str, content_type: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@dataclass
class Case:
    name: str
    kind: str
    request: bytes
    data: dict | None = None
    new_connection_each: bool = False


CASES = [
    Case(
        "roster GET /contacts/john",
        "roster",
        b"GET /contacts/john HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        ROSTER_DATA,
    ),
    Case(
        "roster GET, new connection each",
        "roster",
        b"GET /contacts/john HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        ROSTER_DATA,
        new_connection_each=True,
    ),
    Case(
        "muc-auth GET ?userJID&mucJID",
        "muc-auth",
        b"GET /auth?userJID=romeo%40localhost&mucJID=teaparty%40rooms.localhost "
        b"HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        {"rules": [{"room": "secret", "allowed": False, "error": "members only"}]},
    ),
    Case(
        "rest-callback POST json",
        "rest-callback",
        _post("/stanzas", "application/json", JSON_STANZA),
    ),
    Case(
        "rest-callback POST xml",
        "rest-callback",
        _post("/stanzas", "application/xmpp+xml", XML_STANZA),
    ),
]


class MockServer:
    """`prosody-harness mock KIND --port 0 --quiet` in a child process."""

    def __init__(self, kind: str, data: dict | None) -> None:
        args = [sys.executable, "-m", "harness.cli", "mock", kind, "--port", "0", "--quiet"]
        self._data_file = None
        if data is not None:
            self._data_file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
            json.dump(data, self._data_file)
            self._data_file.close()
            args += ["--data", self._data_file.name]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if match is None:
            self.process.kill()
            raise RuntimeError(f"mock did not start: {line!r}")
        self.port = int(match.group(1))

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.process.stdout.close()
        if self._data_file is not None:
            Path(self._data_file.name).unlink()


def _read_response(sock: socket.socket, buffer: bytearray) -> None:
    """Consume one response (Content-Length framed) from the socket into nothing."""
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            match = re.search(rb"\r\nContent-Length: (\d+)", bytes(buffer[:end]), re.I)
            total = end + 4 + (int(match.group(1)) if match else 0)
            if len(buffer) >= total:
                status = bytes(buffer[9:12])
                if not status.startswith((b"2",)):
                    raise RuntimeError(f"unexpected answer {bytes(buffer[:end])!r}")
                del buffer[:total]
                return
        data = sock.recv(65536)
        if not data:
            raise RuntimeError("connection closed by the server")
        buffer += data


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _worker(case: Case, port: int, deadline: float, latencies: list[float]) -> None:
    sock = None if case.new_connection_each else _connect(port)
    buffer = bytearray()
    try:
        while True:
            started = time.perf_counter()
            if started >= deadline:
                return
            if case.new_connection_each:
                sock = _connect(port)
                buffer.clear()
            sock.sendall(case.request)
            _read_response(sock, buffer)
            latencies.append(time.perf_counter() - started)
            if case.new_connection_each:
                sock.close()
    finally:
        if sock is not None:
            sock.close()


def run_case(case: Case, server: MockServer, concurrency: int, seconds: float) -> dict[str, float]:
    port = server.port
    cpu_before = server.cpu_seconds()
    deadline = time.perf_counter() + seconds
    per_thread: list[list[float]] = [[] for _ in range(concurrency)]
    threads = [
        threading.Thread(target=_worker, args=(case, port, deadline, latencies))
        for latencies in per_thread
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 30)
    elapsed = time.perf_counter() - started
    cpu = server.cpu_seconds() - cpu_before
    latencies = sorted(value for values in per_thread for value in values)
    count = len(latencies)

    def percentile(fraction: float) -> float:
        return latencies[min(count - 1, int(count * fraction))] * 1000

    return {
        "requests": count,
        "rps": count / elapsed,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "max_ms": latencies[-1] * 1000,
        "server_cpu_us": cpu / count * 1e6,
    }


def startup_table(rounds: int) -> None:
    """Median start and stop of a fresh in-process backend of each kind (its own app,
    state and server thread, on a free port), as the runner makes one per scenario."""
    from mock_backends import BACKEND_KINDS, start_backend

    print(f"\n{'fresh backend, in process':26} {'start ms':>9} {'stop ms':>8}  ({rounds} rounds)")
    for kind in BACKEND_KINDS:
        for _ in range(5):  # warm: the first build compiles the shared URL map
            start_backend(kind).stop()
        starts, stops = [], []
        for _ in range(rounds):
            began = time.perf_counter()
            backend = start_backend(kind)
            started = time.perf_counter()
            backend.stop()
            starts.append(started - began)
            stops.append(time.perf_counter() - started)
        print(
            f"{kind:26} {statistics.median(starts) * 1000:9.2f} "
            f"{statistics.median(stops) * 1000:8.2f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument(
        "--concurrency", default="1,4,16", help="comma-separated numbers of concurrent connections"
    )
    parser.add_argument("--only", help="run only cases whose name contains this text")
    parser.add_argument(
        "--startup-rounds", type=int, default=300, help="fresh backends per kind (0: no table)"
    )
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]
    print(
        f"{'case':36} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'server CPU us/req':>18}"
    )
    for case in CASES:
        if args.only and args.only not in case.name:
            continue
        server = MockServer(case.kind, case.data)
        try:
            run_case(case, server, 2, 0.5)  # warm up
            for level in levels:
                result = run_case(case, server, level, args.seconds)
                print(
                    f"{case.name:36} {level:>4} {result['rps']:>8.0f} "
                    f"{result['p50_ms']:>8.2f} {result['p99_ms']:>8.2f} "
                    f"{result['max_ms']:>8.2f} {result['server_cpu_us']:>18.0f}",
                    flush=True,
                )
        finally:
            server.stop()
    if args.startup_rounds > 0:
        startup_table(args.startup_rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
