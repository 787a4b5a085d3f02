"""What mod_muc_http_auth costs a MUC join, on real Prosody against the mock MUC auth
service, side by side with a reference.

    .venv/bin/python bench/bench_muc_auth.py                        # ours only
    .venv/bin/python bench/bench_muc_auth.py --against-commit HEAD  # ours vs HEAD's module
    .venv/bin/python bench/bench_muc_auth.py --against DIR --prosody 13 --profile

Servers run side by side: one without the module (the baseline join), one per arm with
it, all asking one mock service that runs in a process of its own. The rounds alternate
between them. Per arm:

  * added latency: one client joins a fresh room and waits for its self-presence, then
    leaves, --joins times per round, join by join in turn on every server; the module's
    added latency is the median of the arm's round less the median of the same round on
    the server without the module;
  * Prosody's CPU (median per join + leave, from /proc) and the Lua memory allocated per
    join + leave (with the collector stopped, so nothing is freed in between), less the
    same without the module;
  * joins per second: --clients clients each send --per-client joins to distinct rooms at
    once and wait for all the self-presences (muc_room_cache_size is raised so mod_muc
    does not evict rooms to disk mid-run);
  * with a service answering after --slow seconds (once per arm): when a chat message
    sent right after a join reaches its recipient, and when the join completes.

See bench/side_by_side.py for the options every side-by-side benchmark shares.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.side_by_side import (  # noqa: E402
    LUA_SOURCES,
    Arm,
    BenchProsody,
    Figure,
    Probe,
    add_arguments,
    alternating,
    arms,
    backend_process,
    cpu_seconds,
    print_profile,
    print_table,
    probe_folder,
    settings,
)
from harness.profile import ComponentProfile, Profile  # noqa: E402
from harness.target import Client  # noqa: E402

MUC_HOST = "rooms.localhost"
MUC_NS = "http://jabber.org/protocol/muc"
SELF_STATUS = "{http://jabber.org/protocol/muc#user}x/{http://jabber.org/protocol/muc#user}status"
PASSWORD = "bench"
FIGURES = [
    Figure("added_ms", "added join latency", "ms", 3),
    Figure("join_ms", "join latency with the module", "ms", 3),
    Figure("added_cpu_us", "added Prosody CPU per join + leave", "µs", 0),
    Figure("added_kb", "added Lua memory per join + leave", "KB", 1),
    Figure("joins_per_s", "joins per second, many clients at once", "joins/s", 0),
    Figure("slow_message_ms", "slow service: a message sent after the join arrives", "ms", 1),
    Figure("slow_join_ms", "slow service: the join completes", "ms", 0),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joins", type=int, default=60, help="timed joins per arm and round (60)")
    parser.add_argument("--clients", type=int, default=8, help="clients for the load (8)")
    parser.add_argument(
        "--per-client",
        type=int,
        default=50,
        help="joins each client sends at once for the load (50)",
    )
    parser.add_argument(
        "--slow",
        type=float,
        default=1.0,
        help="service latency for the slow-service figure, seconds (1.0)",
    )
    add_arguments(parser, rounds=7)
    return parser.parse_args()


def muc_profile(auth_url: str | None, room_cache: int) -> Profile:
    options: dict[str, Any] = {"muc_room_locking": False, "muc_room_cache_size": room_cache}
    modules = []
    if auth_url:
        modules = ["muc_http_auth"]
        options.update(muc_http_auth_url=auth_url, muc_http_auth_timeout=10)
    component = ComponentProfile(MUC_HOST, "muc", modules, [], options)
    return Profile(components={MUC_HOST: component})


def is_self_presence(room: str) -> Callable[[Element], bool]:
    def match(stanza: Element) -> bool:
        if stanza.tag != "{jabber:client}presence" or not stanza.get("from", "").startswith(room):
            return False
        if stanza.get("type") == "error":
            raise RuntimeError(f"join of {room} refused: the bench expects every join admitted")
        return any(s.get("code") == "110" for s in stanza.findall(SELF_STATUS))

    return match


def join_stanza(room: str, nick: str) -> str:
    return f'<presence to="{room}/{nick}"><x xmlns="{MUC_NS}"/></presence>'


class JoinServer:
    """A Prosody with the MUC component, with or without the module, its clients online."""

    def __init__(
        self, arm: Arm, auth_url: str | None, args: argparse.Namespace, probe_dir: Path
    ) -> None:
        self.arm = arm
        self.args = args
        self.users = [f"u{c}" for c in range(args.clients)] + ["alice", "bob"]
        room_cache = args.clients * args.per_client * (args.rounds + 1) + 1000
        self.server = BenchProsody(
            muc_profile(auth_url, room_cache),
            arm.modules,
            args.prosody,
            args.log_level,
            probe_dir,
            gc=arm.gc,
        )
        self.probe = Probe(self.server)
        self.clients: list[Client] = []
        self.rooms = 0

    def start(self) -> None:
        self.server.start()
        for user in self.users:
            self.server.create_user(user, "localhost", PASSWORD)
        self.clients = [
            self.server.connect(f"{user}@localhost", PASSWORD)
            for user in self.users[: self.args.clients]
        ]

    def stop(self) -> None:
        for client in self.clients:
            client.disconnect()
        self.server.stop()

    def fresh_room(self, tag: str) -> str:
        self.rooms += 1
        return f"{tag}{self.rooms}@{MUC_HOST}"

    def join_latencies(self, joins: int) -> list[float]:
        """Join a fresh room, time the self-presence, leave; `joins` times."""
        client = self.clients[0]
        seconds = []
        for _ in range(joins):
            room = self.fresh_room("lat")
            started = time.perf_counter()
            client.send(join_stanza(room, "bench"))
            client.receive(is_self_presence(room), timeout=10)
            seconds.append(time.perf_counter() - started)
            client.send(f'<presence type="unavailable" to="{room}/bench"/>')
            client.receive(
                lambda s, room=room: (
                    s.get("from", "").startswith(room) and s.get("type") == "unavailable"
                ),
                timeout=10,
            )
        return seconds

    def timed_join(self) -> tuple[float, float]:
        """One join (timed) and leave: (latency, Prosody CPU seconds for both)."""
        pid = self.server.pid
        before = cpu_seconds(pid)
        (latency,) = self.join_latencies(1)
        return latency, cpu_seconds(pid) - before

    def joins_per_second(self) -> float:
        """Every client sends all its joins at once; the rate at which they all complete."""
        rooms = [
            [self.fresh_room("load") for _ in range(self.args.per_client)] for _ in self.clients
        ]
        started = time.perf_counter()
        for client, its_rooms in zip(self.clients, rooms, strict=True):
            for room in its_rooms:
                client.send(join_stanza(room, "bench"))
        for client, its_rooms in zip(self.clients, rooms, strict=True):
            for room in its_rooms:
                client.receive(is_self_presence(room), timeout=60)
        return len(self.clients) * self.args.per_client / (time.perf_counter() - started)

    def slow_service_effect(self) -> tuple[float, float]:
        """(message delivery, join completion) in seconds while the service is slow."""
        alice = self.server.connect("alice@localhost", PASSWORD)
        bob = self.server.connect("bob@localhost", PASSWORD)
        try:
            bob.send("<presence/>")
            time.sleep(0.2)  # let bob's presence settle before the clock starts
            room = self.fresh_room("slow")
            started = time.perf_counter()
            alice.send(join_stanza(room, "alice"))
            alice.send('<message to="bob@localhost" type="chat"><body>hello</body></message>')
            bob.receive(lambda s: s.tag == "{jabber:client}message", timeout=self.args.slow + 5)
            delivered = time.perf_counter() - started
            alice.receive(is_self_presence(room), timeout=self.args.slow + 5)
            return delivered, time.perf_counter() - started
        finally:
            alice.disconnect()
            bob.disconnect()


def measure(arm_list: list[Arm], plain: Arm, args: argparse.Namespace) -> None:
    with ExitStack() as stack:
        service = stack.enter_context(backend_process("muc_auth", {"default": {"allowed": True}}))
        control = requests.Session()
        probe_dir = stack.enter_context(probe_folder())
        servers = [JoinServer(plain, None, args, probe_dir)]
        servers += [JoinServer(arm, service + "/can-join", args, probe_dir) for arm in arm_list]
        for server in servers:
            stack.callback(server.stop)
            server.start()
            server.arm.prosody = server.server.version
            server.join_latencies(20)  # warm-up: first use of every code path
        baseline, gated = servers[0], servers[1:]
        for round_number in range(args.rounds):
            # Join by join, the server without the module and the arms in turn (each round
            # in another order), so that all see the machine in the same state; the added
            # latency is each arm's median less the baseline's, for the round.
            order = servers[round_number % len(servers) :] + servers[: round_number % len(servers)]
            latencies: dict[JoinServer, list[float]] = {server: [] for server in servers}
            cpu: dict[JoinServer, list[float]] = {server: [] for server in servers}
            for _ in range(args.joins):
                for server in order:
                    latency, seconds = server.timed_join()
                    latencies[server].append(latency)
                    cpu[server].append(seconds)
            plain_median = statistics.median(latencies[baseline])
            plain_cpu = statistics.median(cpu[baseline])
            plain.extend("join_ms", [s * 1000 for s in latencies[baseline]])
            plain.record("cpu_us", plain_cpu * 1e6)
            for server in gated:
                server.arm.extend("join_ms", [s * 1000 for s in latencies[server]])
                added = statistics.median(latencies[server]) - plain_median
                server.arm.record("added_ms", added * 1000)
                added_cpu = statistics.median(cpu[server]) - plain_cpu
                server.arm.record("added_cpu_us", added_cpu * 1e6)
        plain_kb = statistics.median(
            baseline.probe.allocated_kb(lambda: baseline.join_latencies(args.joins)) / args.joins
            for _ in range(3)
        )
        plain.record("kb", plain_kb)
        for _, server in alternating(3, gated):
            kb = server.probe.allocated_kb(lambda s=server: s.join_latencies(args.joins))
            server.arm.record("added_kb", kb / args.joins - plain_kb)
        for _, server in alternating(3, servers):
            server.arm.record("joins_per_s", server.joins_per_second())
        if args.profile:
            for server in gated:
                for memory in (False, True):
                    total, functions = server.probe.profiled(
                        lambda s=server: s.join_latencies(args.joins), memory=memory
                    )
                    print_profile(
                        server.arm.label,
                        total,
                        functions,
                        [server.arm.modules, *LUA_SOURCES],
                        memory,
                    )
        control.post(
            f"{service}/_mock/faults", json={"latency": args.slow}, timeout=10
        ).raise_for_status()
        for server in gated:
            delivered, joined = server.slow_service_effect()
            server.arm.record("slow_message_ms", delivered * 1000)
            server.arm.record("slow_join_ms", joined * 1000)
        for server in servers:
            server.server.check_log()


def main() -> None:
    args = parse_args()
    with arms(args) as arm_list:
        plain = Arm("without the module", arm_list[0].modules, "no mod_muc_http_auth")
        measure(arm_list, plain, args)
        print(
            f"without the module: join latency {plain.median('join_ms'):.3f} ms, "
            f"Prosody CPU {plain.median('cpu_us'):.0f} µs and {plain.median('kb'):.1f} KB "
            f"of Lua memory per join + leave, {plain.median('joins_per_s'):.0f} joins/s"
        )
        print_table(
            f"mod_muc_http_auth: {args.joins} joins per arm and round, {args.rounds} rounds, "
            f"{settings(args)}; load: "
            f"{args.clients} clients x {args.per_client} joins",
            arm_list,
            FIGURES,
            args.markdown,
        )


if __name__ == "__main__":
    main()
