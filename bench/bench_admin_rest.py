"""What mod_admin_rest requests cost on real Prosody with hashed admin accounts, side by side.

    .venv/bin/python bench/bench_admin_rest.py                        # ours only
    .venv/bin/python bench/bench_admin_rest.py --against-commit HEAD  # ours vs HEAD's module
    .venv/bin/python bench/bench_admin_rest.py --against DIR --prosody 13 --profile

Per arm, a Prosody runs mod_admin_rest with an admin account stored the way Prosody stores
accounts (internal_hashed, 10,000 PBKDF2 iterations). Every request authenticates with
Basic auth; verified credentials are kept by mod_http_auth_cache, the same credential
cache mod_rest uses (a second server per arm runs with it off). Each figure is the median
over --rounds alternating rounds:

  * requests per second of GET .../users/count and of POST .../message/USER (to a user
    who is online and available, so each message is delivered: 200), over 1 and over 8
    keep-alive connections, for --seconds each, with Prosody's CPU time per request;
  * the same GET over 1 connection with the credential cache off (http_auth_cache_ttl =
    0), i.e. what the password hash costs on every request;
  * the latency of one GET .../user/USER for a user with --roster-items roster items,
    against a user with an empty roster (medians of 200 requests, one at a time).

--profile prints where Prosody's CPU time and Lua memory go in GET .../user/USER with the
big roster. See bench/side_by_side.py for the options every side-by-side benchmark shares.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.clients import (  # noqa: E402
    RawXmppClient,
    basic_authorization,
    http_request,
    load,
    round_trips,
)
from bench.side_by_side import (  # noqa: E402
    Arm,
    BenchProsody,
    Figure,
    Probe,
    add_arguments,
    alternating,
    arms,
    print_table,
    profile_both,
    settings,
)
from harness.profile import Profile, VirtualHostProfile  # noqa: E402

HOST = "localhost"
ADMIN, ADMIN_PASSWORD = f"admin@{HOST}", "bench-admin-pw"
RECIPIENT, BIG, SMALL = "recipient", "bigroster", "smallroster"
AUTHORIZATION = basic_authorization(ADMIN, ADMIN_PASSWORD)
MESSAGE = json.dumps({"message": "benchmark"}).encode()
CONNECTIONS = (1, 8)


def figures(items: int) -> list[Figure]:
    rows = []
    for what in ("count", "message"):
        name = "GET users/count" if what == "count" else "POST message/USER (delivered)"
        rows += [Figure(f"{what}_{c}", f"{name}, {c} conn.", "req/s", 0) for c in CONNECTIONS]
        rows += [
            Figure(f"{what}_cpu_{c}", f"  Prosody CPU per request, {c} conn.", "µs", 0)
            for c in CONNECTIONS
        ]
    return rows + [
        Figure("uncached", "GET users/count, 1 conn., http_auth_cache_ttl = 0", "req/s", 0),
        Figure("uncached_cpu", "  Prosody CPU per request, the hash every time", "µs", 0),
        Figure("user_big", f"GET user/USER, {items:,} roster items", "ms", 2),
        Figure("user_small", "GET user/USER, empty roster", "ms", 2),
        Figure("items_cost", f"  cost of the {items:,} items", "ms", 2),
    ]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="seconds per throughput figure (2)"
    )
    parser.add_argument(
        "--roster-items", type=int, default=1000, help="roster size for the GET user figure (1000)"
    )
    add_arguments(parser, rounds=3)
    return parser.parse_args()


def profile(cache: bool) -> Profile:
    options: dict[str, Any] = {"admins": [ADMIN]}
    if not cache:
        options["http_auth_cache_ttl"] = 0
    host = VirtualHostProfile(HOST, ["admin_rest", "offline"], [], options)
    return Profile(hosts={HOST: host})


def write_roster(server: BenchProsody, user: str, items: int) -> None:
    """A stored roster of `items` contacts, as mod_roster keeps it (internal storage)."""
    item = (
        '["c{0}@example.org"] = {{ subscription = "both"; name = "C{0}"; '
        'groups = {{ ["G"] = true }} }};'
    )
    lines = "\n".join(item.format(i) for i in range(items))
    folder = Path(server.directory or ".", "data", HOST, "roster")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{user}.dat").write_text(f"return {{\n{lines}\n[false] = {{ version = 1 }};\n}};\n")


def request(method: str, path: str, body: bytes = b"") -> bytes:
    return http_request(method, "/admin_rest" + path, HOST, AUTHORIZATION, body)


COUNT = request("GET", "/users/count")
SEND = request("POST", f"/message/{RECIPIENT}", MESSAGE)


class AdminServers:
    """One arm: its server with the credential cache, one without, and the recipient."""

    def __init__(self, arm: Arm, args: argparse.Namespace) -> None:
        self.arm = arm
        self.args = args
        self.cached, self.uncached = (
            BenchProsody(profile(c), arm.modules, args.prosody, args.log_level, gc=arm.gc)
            for c in (True, False)
        )
        self.probe = Probe(self.cached)
        self.recipient: RawXmppClient | None = None
        self.sent = 0

    def start(self) -> None:
        for server in (self.cached, self.uncached):
            server.start()
            server.create_user("admin", HOST, ADMIN_PASSWORD)
            for user in (RECIPIENT, BIG, SMALL):
                server.create_user(user, HOST, "pw")
        write_roster(self.cached, BIG, self.args.roster_items)
        self.recipient = RawXmppClient(self.cached.c2s_port, HOST, RECIPIENT, "pw")
        time.sleep(0.2)  # her presence settles: messages to her are then delivered (200)

    def stop(self) -> None:
        if self.recipient is not None:
            self.recipient.close()
        for server in (self.cached, self.uncached):
            server.stop()

    def throughput(
        self, server: BenchProsody, payload: bytes, connections: int
    ) -> tuple[float, float]:
        """(requests/s, Prosody CPU µs per request), every answer checked to be 200."""
        result = load(server.http_port, [payload] * connections, self.args.seconds, server.pid)
        if set(result.statuses) != {200}:
            raise SystemExit(f"{self.arm.label}: answers {result.statuses}, expected only 200")
        if payload is SEND:
            self.sent += result.statuses[200]
        return result.rate, result.cpu_us

    def latency_ms(self, path: str) -> float:
        port = self.cached.http_port
        return statistics.median(round_trips(port, request("GET", path), 200)) * 1000

    def measure_round(self) -> None:
        arm = self.arm
        for what, payload in (("count", COUNT), ("message", SEND)):
            for connections in CONNECTIONS:
                rate, cpu_us = self.throughput(self.cached, payload, connections)
                arm.record(f"{what}_{connections}", rate)
                arm.record(f"{what}_cpu_{connections}", cpu_us)
        rate, cpu_us = self.throughput(self.uncached, COUNT, 1)
        arm.record("uncached", rate)
        arm.record("uncached_cpu", cpu_us)
        big, small = self.latency_ms(f"/user/{BIG}"), self.latency_ms(f"/user/{SMALL}")
        arm.record("user_big", big)
        arm.record("user_small", small)
        arm.record("items_cost", big - small)

    def check(self) -> None:
        assert self.recipient is not None
        if not self.recipient.wait_for(self.sent, 30):
            raise SystemExit(
                f"{self.arm.label}: {self.recipient.received()} of {self.sent} messages arrived"
            )
        self.cached.check_log()
        self.uncached.check_log()


def measure(arm_list: list[Arm], args: argparse.Namespace) -> None:
    with ExitStack() as stack:
        runs = []
        for arm in arm_list:
            run = AdminServers(arm, args)
            stack.callback(run.stop)
            run.start()
            arm.prosody = run.cached.version
            runs.append(run)
        for run in runs:  # warm-up, not counted: first use of every code path
            run.throughput(run.cached, COUNT, 1)
            run.throughput(run.cached, SEND, 1)
            run.latency_ms(f"/user/{BIG}")
        for _, run in alternating(args.rounds, runs):
            run.measure_round()
        if args.profile:
            for run in runs:
                profile_both(
                    run.probe,
                    f"{run.arm.label}, GET user/USER with {args.roster_items:,} roster items",
                    run.arm.modules,
                    lambda r=run: r.latency_ms(f"/user/{BIG}"),
                )
        for run in runs:
            run.check()


def main() -> None:
    args = parse_args()
    with arms(args) as arm_list:
        measure(arm_list, args)
        print_table(
            f"mod_admin_rest: Basic auth against internal_hashed accounts, {args.seconds:g} s "
            f"per throughput figure, {settings(args)}, "
            f"{args.rounds} alternating rounds",
            arm_list,
            figures(args.roster_items),
            args.markdown,
        )


if __name__ == "__main__":
    main()
