"""Sandbox scenarios per second, and the ratio to real Prosody on the same scenarios.

Two figures:

* fresh target: each scenario is a whole life - a fresh target starts, clients log in,
  stanzas go through the server and come back, the target stops;
* through the runner: scenario files (default scenarios/core) run by `prosody-harness
  run`'s runner on the sandbox, with server reuse and its default workers - what a user
  sees. Scenarios that wait (`receives nothing: {within: ...}`) spend that time for real.

Run:

    .venv/bin/python bench/bench_sandbox.py [--seconds 5] [--prosody] [--scenarios DIR]

--prosody also times the same scenarios on the real server (harness.targets.prosody),
when it is available, and prints the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

from harness.profile import Profile
from harness.runner import Runner, RunOptions, load_all
from harness.stanza import local_name
from harness.target import Target
from harness.targets import create_target

PASSWORD = "s3cret"


def message_to_self(target: Target) -> None:
    target.create_user("john", "localhost", PASSWORD)
    john = target.connect("john@localhost", PASSWORD)
    john.send(f'<message to="{john.jid}" type="chat"><body>hello me</body></message>')
    got = john.receive(lambda e: local_name(e) == "message", timeout=2.0)
    assert got.findtext("{jabber:client}body") == "hello me"


def message_between_clients(target: Target) -> None:
    target.create_user("john", "localhost", PASSWORD)
    target.create_user("marie", "localhost", PASSWORD)
    john = target.connect("john@localhost", PASSWORD)
    marie = target.connect("marie@localhost", PASSWORD, "phone")
    john.send('<message to="marie@localhost/phone" type="chat"><body>hi</body></message>')
    got = marie.receive(lambda e: local_name(e) == "message", timeout=2.0)
    assert got.get("from") == john.jid


def roster_get_and_ping(target: Target) -> None:
    target.create_user("john", "localhost", PASSWORD)
    john = target.connect("john@localhost", PASSWORD)
    john.send('<iq type="get" id="r1"><query xmlns="jabber:iq:roster"/></iq>')
    assert john.receive(timeout=2.0).get("type") == "result"
    john.send('<iq type="get" id="p1" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>')
    assert john.receive(timeout=2.0).get("type") == "result"


def http_404(target: Target) -> None:
    assert target.http("GET", "/no-such-route").status == 404


SCENARIOS: dict[str, Callable[[Target], None]] = {
    "message to self": message_to_self,
    "message between two clients": message_between_clients,
    "roster get + ping": roster_get_and_ping,
    "HTTP request (404)": http_404,
}


def run_once(target_name: str, scenario: Callable[[Target], None]) -> float:
    started = time.perf_counter()
    target = create_target(target_name, Profile())
    target.start()
    try:
        scenario(target)
    finally:
        target.stop()
    return time.perf_counter() - started


def measure(
    target_name: str, scenario: Callable[[Target], None], seconds: float
) -> tuple[list[float], float]:
    """Wall time of each run, and this process' CPU seconds per run (all threads, spare
    boots included): on a busy machine the CPU figure says what an idle one would do."""
    run_once(target_name, scenario)  # warm caches (compiled Lua, imports)
    times: list[float] = []
    cpu_started = time.process_time()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 3:
        times.append(run_once(target_name, scenario))
    return times, (time.process_time() - cpu_started) / len(times)


def measure_runner(target_name: str, paths: list[str], seconds: float) -> tuple[float, int]:
    """(scenarios per second, scenarios per run) for whole runner runs over `paths`."""
    loaded = load_all(paths)
    if loaded.invalid or not loaded.scenarios:
        raise SystemExit(f"bench: no valid scenarios in {', '.join(paths)}")
    done, elapsed = 0, 0.0
    while elapsed < seconds or done == 0:
        report = Runner(RunOptions([target_name])).run(loaded)
        if not report.ok:
            failed = [r.file for r in report.results if not r.ok]
            raise RuntimeError(f"scenarios failed on {target_name}: {', '.join(failed)}")
        done += len(report.results)
        elapsed += report.seconds
    return done / elapsed, len(loaded.scenarios)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per scenario")
    parser.add_argument("--prosody", action="store_true", help="also time real Prosody")
    parser.add_argument(
        "--scenarios",
        default=os.path.join(os.path.dirname(os.path.dirname(__file__)), "scenarios", "core"),
        help="scenario files or directories for the runner figure",
    )
    args = parser.parse_args(argv)

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'scenario':30} {'sandbox/s':>10} {'median ms':>10} {'CPU ms':>7}", end="")
    print(f" {'prosody/s':>10} {'ratio':>7}" if args.prosody else "")
    for name, scenario in SCENARIOS.items():
        times, cpu = measure("sandbox", scenario, args.seconds)
        rate = len(times) / sum(times)
        median = statistics.median(times) * 1000
        print(f"{name:30} {rate:10.1f} {median:10.2f} {cpu * 1000:7.2f}", end="")
        if args.prosody:
            try:
                real, _cpu = measure("prosody", scenario, args.seconds)
            except Exception as exc:  # report, keep measuring the others
                print(f" {'n/a':>10}  ({type(exc).__name__}: {exc})")
                continue
            real_rate = len(real) / sum(real)
            print(f" {real_rate:10.1f} {rate / real_rate:6.1f}x")
        else:
            print()

    print(f"\nthrough the runner ({args.scenarios}, server reuse):")
    rate, count = measure_runner("sandbox", [args.scenarios], args.seconds)
    print(f"{f'{count} scenario files':30} {rate:10.1f}", end="")
    if args.prosody:
        try:
            real_rate, _count = measure_runner("prosody", [args.scenarios], args.seconds)
        except Exception as exc:  # report, do not hide the sandbox figure
            print(f" {'n/a':>10}  ({type(exc).__name__}: {exc})")
        else:
            print(f" {'':10} {'':7} {real_rate:10.1f} {rate / real_rate:6.1f}x")
    else:
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
