"""What mod_muc_http_auth costs a MUC join, on real Prosody against the mock MUC auth service.

    .venv/bin/python bench/bench_muc_auth.py [--joins N] [--clients K] [--per-client M]
                                             [--slow SECONDS] [--prosody PATH]

Prints, for the same server with and without the module:
  * join latency: one client joins a fresh room and waits for its self-presence, N times
    (median, p90, p99), and the latency the module adds (difference of the medians);
  * joins per second: K clients each send M joins to distinct rooms at once and wait for
    all the self-presences (the rooms stay occupied: muc_room_cache_size is raised so
    mod_muc does not evict rooms to disk mid-run);
  * with a service answering after --slow seconds: when a chat message sent right after
    a join reaches its recipient, and when the join completes.
Nothing is asserted. Prosody logs at debug level in the harness, in both arms alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from xml.etree.ElementTree import Element

from harness.profile import ComponentProfile, Profile
from harness.target import Client
from harness.targets.prosody import ProsodyTarget
from mock_backends import start_backend

MUC_HOST = "rooms.localhost"
MUC_NS = "http://jabber.org/protocol/muc"
SELF_STATUS = "{http://jabber.org/protocol/muc#user}x/{http://jabber.org/protocol/muc#user}status"
PASSWORD = "bench"


def muc_profile(auth_url: str | None, room_cache: int) -> Profile:
    options: dict[str, Any] = {"muc_room_locking": False, "muc_room_cache_size": room_cache}
    modules = []
    if auth_url:
        modules = ["muc_http_auth"]
        options.update(muc_http_auth_url=auth_url, muc_http_auth_timeout=10)
    component = ComponentProfile(MUC_HOST, "muc", modules, [], options)
    return Profile(components={MUC_HOST: component})


@contextmanager
def server(auth_url: str | None, users: list[str], room_cache: int,
           prosody: str | None) -> Iterator[ProsodyTarget]:
    target = ProsodyTarget(muc_profile(auth_url, room_cache), prosody=prosody)
    target.start()
    try:
        for user in users:
            target.create_user(user, "localhost", PASSWORD)
        yield target
    finally:
        target.stop()


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


def join_latencies(client: Client, joins: int, tag: str) -> list[float]:
    """Join a fresh room, time the self-presence, leave; `joins` times."""
    seconds = []
    for i in range(joins):
        room = f"{tag}{i}@{MUC_HOST}"
        started = time.perf_counter()
        client.send(join_stanza(room, "bench"))
        client.receive(is_self_presence(room), timeout=10)
        seconds.append(time.perf_counter() - started)
        client.send(f'<presence type="unavailable" to="{room}/bench"/>')
        client.receive(lambda s, room=room: s.get("from", "").startswith(room)
                       and s.get("type") == "unavailable", timeout=10)
    return seconds


def joins_per_second(clients: list[Client], per_client: int, tag: str) -> float:
    """Every client sends all its joins at once; the rate at which they all complete."""
    started = time.perf_counter()
    for c, client in enumerate(clients):
        for i in range(per_client):
            client.send(join_stanza(f"{tag}{c}x{i}@{MUC_HOST}", "bench"))
    for c, client in enumerate(clients):
        for i in range(per_client):
            client.receive(is_self_presence(f"{tag}{c}x{i}@{MUC_HOST}"), timeout=60)
    return len(clients) * per_client / (time.perf_counter() - started)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def describe(seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (f"median {statistics.median(ms):6.2f} ms   p90 {percentile(ms, 0.9):6.2f}"
            f"   p99 {percentile(ms, 0.99):6.2f}   (n={len(ms)})")


def measure_arm(auth_url: str | None, args: argparse.Namespace) -> tuple[list[float], float]:
    users = [f"u{c}" for c in range(args.clients)]
    room_cache = args.clients * args.per_client + 1000
    with server(auth_url, users, room_cache, args.prosody) as target:
        clients = [target.connect(f"{user}@localhost", PASSWORD) for user in users]
        join_latencies(clients[0], 20, "warmup")  # first requests pay for imports/connects
        latencies = join_latencies(clients[0], args.joins, "lat")
        rate = joins_per_second(clients, args.per_client, "load")
        for client in clients:
            client.disconnect()
    return latencies, rate


def slow_service_effect(slow: float, prosody: str | None) -> tuple[float, float]:
    """(message delivery, join completion) in seconds while the service takes `slow` s."""
    backend = start_backend("muc_auth", {"default": {"allowed": True}})
    backend.add_fault(latency=slow)
    try:
        with server(backend.url + "/can-join", ["alice", "bob"], 1000, prosody) as target:
            alice = target.connect("alice@localhost", PASSWORD)
            bob = target.connect("bob@localhost", PASSWORD)
            bob.send("<presence/>")
            time.sleep(0.2)  # let bob's presence settle before the clock starts
            room = f"slow@{MUC_HOST}"
            started = time.perf_counter()
            alice.send(join_stanza(room, "alice"))
            alice.send('<message to="bob@localhost" type="chat"><body>hello</body></message>')
            bob.receive(lambda s: s.tag == "{jabber:client}message", timeout=slow + 5)
            delivered = time.perf_counter() - started
            alice.receive(is_self_presence(room), timeout=slow + 5)
            joined = time.perf_counter() - started
            alice.disconnect()
            bob.disconnect()
    finally:
        backend.stop()
    return delivered, joined


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joins", type=int, default=200, help="timed joins per arm (200)")
    parser.add_argument("--clients", type=int, default=8, help="clients for the load (8)")
    parser.add_argument("--per-client", type=int, default=50,
                        help="joins each client sends at once for the load (50)")
    parser.add_argument("--slow", type=float, default=1.0,
                        help="service latency for the slow-service figure, seconds (1.0)")
    parser.add_argument("--prosody", metavar="PATH", help="prosody binary (default: PATH)")
    args = parser.parse_args()

    backend = start_backend("muc_auth", {"default": {"allowed": True}})
    try:
        plain, plain_rate = measure_arm(None, args)
        gated, gated_rate = measure_arm(backend.url + "/can-join", args)
        asked = len(backend.journal())
    finally:
        backend.stop()

    print(f"join latency without the module   {describe(plain)}")
    print(f"join latency with the module      {describe(gated)}")
    added = (statistics.median(gated) - statistics.median(plain)) * 1000
    print(f"added latency (median)            {added:6.2f} ms per join")
    load = args.clients * args.per_client
    print(f"joins/s without the module        {plain_rate:8.0f}"
          f"   ({load} joins, {args.clients} clients)")
    print(f"joins/s with the module           {gated_rate:8.0f}"
          f"   (the mock answered {asked} queries)")
    delivered, joined = slow_service_effect(args.slow, args.prosody)
    print(f"service answering after {args.slow:g} s: a message sent right after the join arrived"
          f" in {delivered * 1000:.1f} ms; the join completed in {joined * 1000:.0f} ms")


if __name__ == "__main__":
    main()
