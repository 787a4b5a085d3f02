"""What mod_rest sustains on real Prosody with internal_hashed accounts, side by side.

    .venv/bin/python bench/bench_rest.py                        # ours only
    .venv/bin/python bench/bench_rest.py --against-commit HEAD  # ours vs HEAD's module
    .venv/bin/python bench/bench_rest.py --against DIR --prosody 13 --profile

Accounts are internal_hashed (10,000 PBKDF2 iterations), requests authenticate with
Basic auth, and mod_rest keeps verified credentials in mod_http_auth_cache (as
mod_admin_rest does). Per arm, each figure the median over --rounds alternating rounds:

  * chat messages/s through POST /rest (JSON, one user per keep-alive connection) at 1, 4
    and 16 connections, each for --seconds; every message goes to an online recipient, and
    the run waits until she has them all. With them, Prosody's CPU time per message (the
    figure that depends least on what else the machine runs), what one core would
    therefore sustain, and how much of a core Prosody got during the run;
  * Lua memory allocated per message, and Prosody's CPU per message with the collector
    stopped meanwhile (16 connections, --seconds, three alternating runs): how much of the
    CPU above is garbage collection;
  * the HTTP floor: Prosody's CPU for a request mod_rest refuses at once (PUT: 405 with a
    small JSON error body, no authentication, nothing sent): about what Prosody's HTTP
    server itself costs;
  * iq round trip: GET /rest/ping/localhost, one at a time (median, p99);
  * webhook deliveries/s: a client sends --webhook-messages messages to a component whose
    rest_callback_url is a minimal local HTTP sink answering 204; the time until the sink
    has seen them all, and Prosody's CPU per delivery.

The goal of issue 13 (2,500 messages/s with hashed accounts) is checked for ours at each
connection count. At Prosody's default collector settings most of its CPU per message is
garbage collection: `--gc generational --against-gc incremental` measures the same modules
under Prosody's generational collector and under its default side by side, with the
resident memory each costs (after every round, and the peak over the whole run).
--profile prints where Prosody's CPU time and Lua memory go during a 16-connection run.
The load generator is one asyncio loop on raw sockets and the recipient a raw socket that
only counts, so they cost little of the CPU they share with Prosody. See
bench/side_by_side.py for the options every side-by-side benchmark shares.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.clients import (  # noqa: E402
    RawXmppClient,
    WebhookSink,
    basic_authorization,
    http_request,
    load,
    percentile,
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
    cpu_seconds,
    memory_mb,
    print_table,
    profile_both,
    settings,
)
from harness.profile import ComponentProfile, Profile, VirtualHostProfile  # noqa: E402

HOST = "localhost"
COMPONENT = "rest.localhost"
PASSWORD = "bench-s3cret"
SECRET = "bench-component"
CONCURRENCY = (1, 4, 16)
GOAL = 2500  # chat messages/s with hashed accounts (issue 13)
FIGURES = [
    *(Figure(f"rate_{c}", f"chat messages/s, {c} connection(s)", "msg/s", 0) for c in CONCURRENCY),
    *(Figure(f"cpu_{c}", f"Prosody CPU per message, {c} conn.", "µs", 0) for c in CONCURRENCY),
    *(
        Figure(f"core_{c}", f"  = messages/s one core sustains, {c} conn.", "msg/s", 0)
        for c in CONCURRENCY
    ),
    *(Figure(f"share_{c}", f"  Prosody's share of a core, {c} conn.", "%", 0) for c in CONCURRENCY),
    Figure("kb", "Lua memory allocated per message, 16 conn.", "KB", 2),
    Figure("nogc_cpu", "Prosody CPU per message, collector stopped, 16 conn.", "µs", 0),
    Figure("floor_cpu", "HTTP floor: Prosody CPU per PUT -> 405", "µs", 0),
    Figure("rss", "Prosody resident memory after a round", "MB", 1),
    Figure("hwm", "Prosody peak resident memory over the rounds", "MB", 1),
    Figure("rtt_median", "iq round trip (GET /rest/ping), median", "ms", 2),
    Figure("rtt_p99", "iq round trip, p99", "ms", 2),
    Figure("webhook_rate", "webhook deliveries/s", "/s", 0),
    Figure("webhook_cpu", "Prosody CPU per webhook delivery", "µs", 0),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="length of each messages/s run (2)"
    )
    parser.add_argument("--iqs", type=int, default=500, help="timed iq round trips (500)")
    parser.add_argument(
        "--webhook-messages",
        type=int,
        default=2000,
        help="messages sent to the webhook per round (2000)",
    )
    add_arguments(parser, rounds=3)
    return parser.parse_args()


def profile(sink_url: str) -> Profile:
    component = ComponentProfile(
        COMPONENT, "rest", options={"component_secret": SECRET, "rest_callback_url": sink_url}
    )
    return Profile(
        hosts={HOST: VirtualHostProfile(HOST, modules_enabled=["rest"])},
        components={COMPONENT: component},
    )


def chat_request(user: str) -> bytes:
    body = json.dumps(
        {"kind": "message", "type": "chat", "to": f"marie@{HOST}", "body": "benchmark message"}
    ).encode()
    return http_request("POST", "/rest", HOST, basic_authorization(user, PASSWORD), body)


class RestServer:
    """A Prosody running one arm's mod_rest, with its recipient, sender and webhook sink."""

    def __init__(self, arm: Arm, args: argparse.Namespace) -> None:
        self.arm = arm
        self.args = args
        self.sink = WebhookSink()
        self.server = BenchProsody(
            profile(self.sink.url), arm.modules, args.prosody, args.log_level, gc=arm.gc
        )
        self.probe = Probe(self.server)
        self.clients: list[RawXmppClient] = []
        self.delivered = 0  # messages accepted (202) so far, all to marie
        self.statuses: dict[int, int] = {}

    def start(self) -> None:
        self.server.start()
        for user in ["marie", "sender", *(f"bot{i}" for i in range(max(CONCURRENCY)))]:
            self.server.create_user(user, HOST, PASSWORD)
        port = self.server.c2s_port
        self.marie = RawXmppClient(port, HOST, "marie", PASSWORD)
        self.sender = RawXmppClient(port, HOST, "sender", PASSWORD)
        self.clients = [self.marie, self.sender]
        time.sleep(0.2)  # presences settle

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        self.server.stop()
        self.sink.stop()

    def messages(self, connections: int, seconds: float) -> tuple[float, float, float]:
        """(messages/s, Prosody CPU µs per message, Prosody's share of a core)."""
        requests = [chat_request(f"bot{i}") for i in range(connections)]
        result = load(self.server.http_port, requests, seconds, self.server.pid)
        for status, count in result.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        if set(result.statuses) - {202}:
            raise SystemExit(f"{self.arm.label}: POST /rest answered {result.statuses}")
        self.delivered += result.statuses.get(202, 0)
        if not self.marie.wait_for(self.delivered, 30):
            raise SystemExit(
                f"{self.arm.label}: only {self.marie.received()} of {self.delivered} "
                "messages reached the recipient"
            )
        return result.rate, result.cpu_us, result.cpu_share

    def floor(self, seconds: float) -> float:
        """Prosody CPU µs per request that mod_rest refuses at once (PUT: 405)."""
        request = http_request("PUT", "/rest", HOST)
        return load(self.server.http_port, [request] * 4, seconds, self.server.pid).cpu_us

    def round_trips(self, count: int) -> list[float]:
        authorization = basic_authorization("bot0", PASSWORD)
        request = http_request("GET", "/rest/ping/localhost", HOST, authorization)
        return round_trips(self.server.http_port, request, count)

    def webhook(self, messages: int) -> tuple[float, float]:
        """(deliveries/s, Prosody CPU µs per delivery)."""
        before = self.sink.posts
        cpu_before = cpu_seconds(self.server.pid)
        stanza = (
            f"<message to='bot@{COMPONENT}' type='chat'><body>to the webhook</body></message>"
        ).encode()
        started = time.perf_counter()
        for sent in range(0, messages, 100):
            self.sender.send(stanza * min(100, messages - sent))
        deadline = time.monotonic() + 60
        while self.sink.posts - before < messages and time.monotonic() < deadline:
            time.sleep(0.002)
        got = self.sink.posts - before
        cpu = cpu_seconds(self.server.pid) - cpu_before
        if got < messages:
            raise SystemExit(f"{self.arm.label}: the webhook saw {got} of {messages} messages")
        return got / (self.sink.last_post - started), cpu / got * 1e6

    def measure_allocation(self) -> None:
        """Lua KB allocated per message and CPU µs per message, the collector stopped."""
        connections = max(CONCURRENCY)
        before = self.delivered
        results: list[tuple[float, float, float]] = []
        kb = self.probe.allocated_kb(
            lambda: results.append(self.messages(connections, self.args.seconds))
        )
        self.arm.record("kb", kb / max(self.delivered - before, 1))
        self.arm.record("nogc_cpu", results[0][1])

    def warm_up(self) -> None:
        self.messages(4, 0.5)
        self.round_trips(50)
        self.webhook(100)

    def measure_round(self) -> None:
        arm, args = self.arm, self.args
        for connections in CONCURRENCY:
            rate, cpu_us, share = self.messages(connections, args.seconds)
            arm.record(f"rate_{connections}", rate)
            arm.record(f"cpu_{connections}", cpu_us)
            arm.record(f"core_{connections}", 1e6 / cpu_us)
            arm.record(f"share_{connections}", share * 100)
        arm.record("floor_cpu", self.floor(args.seconds))
        rtts = [s * 1000 for s in self.round_trips(args.iqs)]
        arm.record("rtt_median", statistics.median(rtts))
        arm.record("rtt_p99", percentile(rtts, 0.99))
        rate, cpu_us = self.webhook(args.webhook_messages)
        arm.record("webhook_rate", rate)
        arm.record("webhook_cpu", cpu_us)
        arm.record("rss", memory_mb(self.server.pid)["VmRSS"])


def measure(arm_list: list[Arm], args: argparse.Namespace) -> list[RestServer]:
    with ExitStack() as stack:
        servers = []
        for arm in arm_list:
            server = RestServer(arm, args)
            stack.callback(server.stop)
            server.start()
            arm.prosody = server.server.version
            servers.append(server)
        for server in servers:
            server.warm_up()
        for _, server in alternating(args.rounds, servers):
            server.measure_round()
        for server in servers:  # before the runs below, which stop the collector
            server.arm.record("hwm", memory_mb(server.server.pid)["VmHWM"])
        for _, server in alternating(3, servers):
            server.measure_allocation()
        if args.profile:
            for server in servers:
                profile_both(
                    server.probe,
                    f"{server.arm.label}, {max(CONCURRENCY)} connections sending messages",
                    server.arm.modules,
                    lambda s=server: s.messages(max(CONCURRENCY), args.seconds),
                )
        for server in servers:
            server.server.check_log()
            print(
                f"{server.arm.label}: HTTP statuses of the message runs "
                f"{dict(sorted(server.statuses.items()))}; the recipient got "
                f"{server.marie.received()} messages"
            )
        return servers


def print_goal(ours: Arm) -> None:
    verdicts = []
    for connections in CONCURRENCY:
        rate = ours.median(f"rate_{connections}") or 0
        core = ours.median(f"core_{connections}") or 0
        verdict = "reached" if rate >= GOAL else "NOT reached"
        verdicts.append(
            f"{connections} conn.: {rate:,.0f} msg/s, {verdict} (one core: {core:,.0f})"
        )
    collector = f'gc = {{ mode = "{ours.gc}" }}' if ours.gc else "Prosody's default collector"
    print(
        f"goal {GOAL:,} chat messages/s with hashed accounts (ours, {collector}): "
        + "; ".join(verdicts)
    )


def main() -> None:
    args = parse_args()
    with arms(args) as arm_list:
        measure(arm_list, args)
        print_table(
            f"mod_rest: Basic auth against internal_hashed accounts, {args.seconds:g} s per "
            f"messages/s run, {args.iqs} iqs, {args.webhook_messages} webhook messages, "
            f"{settings(args)}, {args.rounds} alternating rounds",
            arm_list,
            FIGURES,
            args.markdown,
        )
        print_goal(arm_list[0])


if __name__ == "__main__":
    main()
