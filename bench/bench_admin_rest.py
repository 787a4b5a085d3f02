"""What mod_admin_rest requests cost on real Prosody, for one modules folder or two compared.

    .venv/bin/python bench/bench_admin_rest.py [--modules DIR] [--against DIR]
                                               [--seconds S] [--rounds R]
                                               [--roster-items N] [--prosody PATH]

For each modules folder (default lua_modules/; with --against, a second one) a Prosody is
started with mod_admin_rest and an admin account stored the way Prosody stores accounts
(internal_hashed, 10,000 PBKDF2 rounds). Then, with every request authenticated:

  * requests per second of GET .../users/count and of POST .../message/USER (to a user
    who is online and available, so each message is delivered: 200), over 1 and over 8
    keep-alive connections, for --seconds each;
  * the same GET over 1 connection with the credential cache off
    (http_auth_cache_ttl = 0), i.e. what the password hash alone costs;
  * the latency of one GET .../user/USER for a user with --roster-items roster items,
    against a user with an empty roster (medians of 200 requests).

With --against both servers run side by side and the measurements alternate (A B, B A,
A B, ... for --rounds rounds), so that a change in the machine's load hits both alike and
neither always goes first; each figure is the median of its rounds, printed for both
folders with the ratio B/A (run it with the same folder twice to see the noise). Nothing is
asserted. Prosody logs at debug level in the harness, for both folders alike.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.profile import Profile, VirtualHostProfile
from harness.target import Client
from harness.targets.prosody import ProsodyTarget

HOST = "localhost"
ADMIN, ADMIN_PASSWORD = "admin@localhost", "bench-admin-pw"
RECIPIENT, BIG, SMALL = "recipient", "bigroster", "smallroster"
REPO_MODULES = Path(__file__).resolve().parents[1] / "lua_modules"
AUTHORIZATION = "Basic " + base64.b64encode(f"{ADMIN}:{ADMIN_PASSWORD}".encode()).decode()


def profile(cache: bool) -> Profile:
    options: dict[str, Any] = {"admins": [ADMIN]}
    if not cache:
        options["http_auth_cache_ttl"] = 0
    host = VirtualHostProfile(HOST, ["admin_rest", "offline"], [], options)
    return Profile(hosts={HOST: host})


def write_roster(target: ProsodyTarget, user: str, items: int) -> None:
    """A stored roster of `items` contacts, as mod_roster keeps it (internal storage)."""
    item = (
        '["c{0}@example.org"] = {{ subscription = "both"; name = "C{0}"; '
        'groups = {{ ["G"] = true }} }};'
    )
    lines = "\n".join(item.format(i) for i in range(items))
    folder = Path(target.directory or ".", "data", HOST, "roster")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{user}.dat").write_text(f"return {{\n{lines}\n[false] = {{ version = 1 }};\n}};\n")


@dataclass
class Server:
    """One modules folder under test: its server with the credential cache, one without."""

    label: str
    modules: str
    prosody: str | None
    roster_items: int
    target: ProsodyTarget | None = None
    uncached: ProsodyTarget | None = None
    recipient: Client | None = None
    figures: dict[str, list[float]] = field(default_factory=dict)

    def start(self) -> None:
        self.target = self._start(cache=True)
        self.uncached = self._start(cache=False)
        write_roster(self.target, BIG, self.roster_items)
        self.recipient = self.target.connect(f"{RECIPIENT}@{HOST}", "pw")
        self.recipient.send("<presence/>")
        self.recipient.receive(lambda s: s.tag == "{jabber:client}presence", timeout=5)

    def _start(self, cache: bool) -> ProsodyTarget:
        target = ProsodyTarget(profile(cache), modules_dir=self.modules, prosody=self.prosody)
        target.start()
        target.create_user("admin", HOST, ADMIN_PASSWORD)
        for user in (RECIPIENT, BIG, SMALL):
            target.create_user(user, HOST, "pw")
        return target

    def stop(self) -> None:
        for target in (self.target, self.uncached):
            if target is not None:
                target.stop()

    def record(self, name: str, value: float) -> None:
        self.figures.setdefault(name, []).append(value)


class Connection:
    """One keep-alive HTTP/1.1 connection sending authenticated requests."""

    def __init__(self, port: int) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def request(self, method: str, path: str, body: bytes | None = None) -> int:
        headers = {"Authorization": AUTHORIZATION, "Host": HOST}
        if body is not None:
            headers["Content-Type"] = "application/json"
        self.http.request(method, "/admin_rest" + path, body=body, headers=headers)
        response = self.http.getresponse()
        response.read()
        return response.status

    def close(self) -> None:
        self.http.close()


def throughput(
    port: int, connections: int, seconds: float, send: Callable[[Connection], int], expected: int
) -> float:
    """Requests per second over `connections` keep-alive connections for `seconds`."""
    counts = [0] * connections
    failures: list[str] = []
    stop_at = time.perf_counter() + seconds
    start_line = threading.Barrier(connections + 1)

    def worker(index: int) -> None:
        connection = Connection(port)
        send(connection)  # the connection and the first authentication are not timed
        start_line.wait()
        try:
            while time.perf_counter() < stop_at:
                status = send(connection)
                if status != expected:
                    failures.append(f"HTTP {status}")
                    return
                counts[index] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    start_line.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"a request failed: {failures[0]} (expected {expected})")
    return sum(counts) / elapsed


def median_latency(port: int, path: str, requests: int = 200) -> float:
    connection = Connection(port)
    try:
        for _ in range(20):  # warm-up: caches, the first authentication
            connection.request("GET", path)
        seconds = []
        for _ in range(requests):
            started = time.perf_counter()
            status = connection.request("GET", path)
            seconds.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"GET {path}: HTTP {status}")
        return statistics.median(seconds)
    finally:
        connection.close()


MESSAGE = json.dumps({"message": "benchmark"}).encode()


def count_users(connection: Connection) -> int:
    return connection.request("GET", "/users/count")


def send_message(connection: Connection) -> int:
    return connection.request("POST", f"/message/{RECIPIENT}", MESSAGE)


def measure_round(server: Server, seconds: float) -> None:
    assert server.target and server.uncached
    port = server.target.http_port
    for connections in (1, 8):
        server.record(
            f"GET users/count, {connections} conn (req/s)",
            throughput(port, connections, seconds, count_users, 200),
        )
        server.record(
            f"POST message/USER, {connections} conn (req/s)",
            throughput(port, connections, seconds, send_message, 200),
        )
    server.record(
        "GET users/count, 1 conn, cache off (req/s)",
        throughput(server.uncached.http_port, 1, seconds, count_users, 200),
    )
    big = median_latency(port, f"/user/{BIG}")
    small = median_latency(port, f"/user/{SMALL}")
    server.record(f"GET user/USER, {server.roster_items} items (ms)", big * 1000)
    server.record("GET user/USER, empty roster (ms)", small * 1000)
    server.record(f"  cost of the {server.roster_items} items (ms)", (big - small) * 1000)


def report(servers: list[Server]) -> None:
    names = list(servers[0].figures)
    width = max(len(n) for n in names) + 2
    heading = f"{'':{width}}" + "".join(f"{s.label:>14}" for s in servers)
    if len(servers) == 2:
        heading += f"{'B/A':>10}"
    print(heading)
    for name in names:
        values = [statistics.median(s.figures[name]) for s in servers]
        line = f"{name:{width}}" + "".join(f"{v:14.1f}" for v in values)
        if len(values) == 2 and values[0]:
            line += f"{values[1] / values[0]:10.2f}"
        print(line)
    for index, server in enumerate(servers):
        letter = "AB"[index]
        print(
            f"{letter}: {server.modules} ({len(server.figures[names[0]])} rounds, Prosody "
            f"{server.target.version if server.target else '?'})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--modules",
        default=str(REPO_MODULES),
        help="modules folder to measure (default: lua_modules/)",
    )
    parser.add_argument(
        "--against",
        metavar="DIR",
        help="a second modules folder, measured alternately with the first",
    )
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="seconds per throughput figure (2)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="measurement rounds per folder, alternating with --against (3)",
    )
    parser.add_argument(
        "--roster-items", type=int, default=1000, help="roster size for the GET user figure (1000)"
    )
    parser.add_argument(
        "--prosody",
        metavar="PATH",
        help="prosody launcher, or 0.12 / 13 (default: the prosody on PATH)",
    )
    args = parser.parse_args()

    folders = [args.modules] + ([args.against] if args.against else [])
    servers = [
        Server("A" if i == 0 else "B", str(Path(folder).resolve()), args.prosody, args.roster_items)
        for i, folder in enumerate(folders)
    ]
    try:
        for server in servers:
            server.start()
        for round_number in range(args.rounds):
            # A, B then B, A: neither folder always runs first (warm caches, clock speed).
            for server in servers if round_number % 2 == 0 else reversed(servers):
                measure_round(server, args.seconds)
    finally:
        for server in servers:
            server.stop()
    report(servers)


if __name__ == "__main__":
    main()
