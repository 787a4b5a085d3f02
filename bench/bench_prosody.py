"""Timings of the prosody target: boot to ready, user creation, client connect+auth.

    .venv/bin/python bench/bench_prosody.py [--runs N] [--prosody PATH]

Prints the median (and min/max) of several runs of each; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from harness.profile import Profile
from harness.targets.prosody import ProsodyTarget


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def report(what: str, seconds: list[float]) -> None:
    ms = [s * 1000 for s in seconds]
    print(
        f"{what:<34} median {statistics.median(ms):7.1f} ms"
        f"   min {min(ms):7.1f}   max {max(ms):7.1f}   (n={len(ms)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per measurement (default 7)")
    parser.add_argument("--prosody", metavar="PATH", help="prosody binary (default: PATH)")
    args = parser.parse_args()

    boots, stops = [], []
    for _ in range(args.runs):
        target = ProsodyTarget(Profile(), prosody_binary=args.prosody)
        target.start()
        boots.append(target.boot_seconds)
        stops.append(timed(target.stop))
    report("boot to ready (c2s + HTTP)", boots)
    report("stop (SIGTERM to exit, cleanup)", stops)

    with ProsodyTarget(Profile(), prosody_binary=args.prosody) as target:
        creations = [
            timed(lambda i=i: target.create_user(f"user{i}", "localhost", "pw"))
            for i in range(args.runs)
        ]
        report("create user (written to the store)", creations)
        slow = [
            timed(lambda i=i: target.register_with_prosodyctl(f"slow{i}", "localhost", "pw"))
            for i in range(args.runs)
        ]
        report("create user (prosodyctl register)", slow)
        target.connect("user0@localhost", "pw").disconnect()  # warm up slixmpp's imports
        logins = []
        for i in range(args.runs * 3):
            started = time.perf_counter()
            client = target.connect(f"user{i % args.runs}@localhost", "pw")
            logins.append(time.perf_counter() - started)
            client.disconnect()
        report("client connect + auth + bind", logins)

        sender = target.connect("user0@localhost", "pw")
        receiver = target.connect("user1@localhost", "pw")
        trips = []
        for i in range(args.runs * 3):
            started = time.perf_counter()
            sender.send(f'<message to="{receiver.jid}" id="b{i}"><body>x</body></message>')
            receiver.receive(lambda e, i=i: e.get("id") == f"b{i}")
            trips.append(time.perf_counter() - started)
        report("message, client to client", trips)
        trips = [timed(lambda: target.http("GET", "/")) for _ in range(args.runs * 3)]
        report("HTTP GET / (keep-alive)", trips)


if __name__ == "__main__":
    main()
