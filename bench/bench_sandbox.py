"""The sandbox's speed against real Prosody's, measured side by side in one run.

Two tables (issue 16's sandbox rows):

* bench scenarios, a fresh target each: a target starts, clients log in, stanzas go
  through the server and come back (or an HTTP request is answered), the target stops.
  Scenarios per second on the sandbox and on the prosody target, alternating scenario by
  scenario, and their ratio. Goal: >= 100/s on the sandbox for every one.
* the whole suite: `prosody-harness run SUITE --target sandbox` against `--target
  prosody`, as a user runs it (a process each, server reuse, the default workers), the
  two alternating round by round. Wall time of the process, the run's own time (what it
  prints, without Python's start-up) and the verdicts of each. Goal: the sandbox >= 10x
  faster. Whether every verdict agrees is `prosody-harness run SUITE --target all`.

Run:

    .venv/bin/python bench/bench_sandbox.py [--seconds 3] [--prosody 0.12|13]
        [--suite scenarios] [--rounds 1] [--sandbox-only] [--no-suite]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from harness.profile import Profile
from harness.stanza import local_name
from harness.target import Target
from harness.targets import create_target

PASSWORD = "s3cret"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENARIO_GOAL = 100.0  # sandbox scenarios per second
SUITE_GOAL = 10.0  # sandbox suite this many times faster than real Prosody's


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


def run_once(target_name: str, scenario: Callable[[Target], None], prosody: str | None) -> float:
    started = time.perf_counter()
    target = create_target(target_name, Profile(), **({"prosody": prosody} if prosody else {}))
    target.start()
    try:
        scenario(target)
    finally:
        target.stop()
    return time.perf_counter() - started


def measure(
    target_name: str, scenario: Callable[[Target], None], seconds: float, prosody: str | None
) -> tuple[list[float], float]:
    """Wall time of each run, and this process' CPU seconds per run (all its threads):
    on a busy machine the CPU figure says what an idle one would do."""
    run_once(target_name, scenario, prosody)  # warm caches (compiled Lua, imports)
    times: list[float] = []
    cpu_started = time.process_time()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 3:
        times.append(run_once(target_name, scenario, prosody))
    return times, (time.process_time() - cpu_started) / len(times)


def scenario_table(seconds: float, prosody: str | None, real: bool) -> None:
    head = f"{'bench scenario (fresh target)':30} {'sandbox/s':>10} {'median ms':>10}"
    print(f"{head} {'CPU ms':>7}", end="")
    print(f" {'prosody/s':>10} {'ratio':>7}" if real else "", f"  goal >= {SCENARIO_GOAL:g}/s")
    for name, scenario in SCENARIOS.items():
        times, cpu = measure("sandbox", scenario, seconds, prosody)
        rate = len(times) / sum(times)
        median = statistics.median(times) * 1000
        print(f"{name:30} {rate:10.1f} {median:10.2f} {cpu * 1000:7.2f}", end="")
        verdict = "met" if rate >= SCENARIO_GOAL else "NOT met"
        if real:
            try:
                real_times, _cpu = measure("prosody", scenario, seconds, prosody)
            except Exception as exc:  # report, keep measuring the others
                print(f" {'n/a':>10} {'':>7}  {verdict} ({type(exc).__name__}: {exc})")
                continue
            real_rate = len(real_times) / sum(real_times)
            print(f" {real_rate:10.1f} {rate / real_rate:6.1f}x", end="")
        print(f"  {verdict}")


def run_suite(target_name: str, suite: list[str], prosody: str | None) -> dict:
    """One `prosody-harness run` process: its wall time, its own time and its verdicts."""
    with tempfile.TemporaryDirectory() as folder:
        report_path = os.path.join(folder, "report.json")
        command = [sys.executable, "-m", "harness.cli", "run", *suite, "--target", target_name]
        command += ["--json", report_path] + (["--prosody", prosody] if prosody else [])
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        try:
            with open(report_path, encoding="utf-8") as file:
                report = json.load(file)
        except (OSError, ValueError):
            return {"wall": wall, "run": None, "verdicts": "no report"}
    counts: dict[str, int] = {}
    for result in report.get("results", []):
        counts[result["status"]] = counts.get(result["status"], 0) + 1
        if result["status"] not in ("passed", "skipped"):  # say which, and why
            print(
                f"  {target_name}: {result['status']}: {result['file']}: {result['step']}: "
                f"{result['message']}",
                file=sys.stderr,
            )
    verdicts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return {"wall": wall, "run": report.get("seconds"), "verdicts": verdicts}


def suite_table(suite: list[str], rounds: int, prosody: str | None) -> None:
    print(f"\nthe whole suite ({' '.join(suite)}), one process per run, alternating:")
    print(f"{'round':>5} {'target':8} {'wall s':>8} {'run s':>8}  verdicts")
    figures: dict[str, list[dict]] = {"sandbox": [], "prosody": []}
    for round_number in range(1, rounds + 1):
        for target_name in ("sandbox", "prosody"):
            figure = run_suite(target_name, suite, prosody)
            figures[target_name].append(figure)
            run = f"{figure['run']:8.2f}" if figure["run"] is not None else f"{'n/a':>8}"
            wall = f"{figure['wall']:8.2f}"
            print(f"{round_number:5} {target_name:8} {wall} {run}  {figure['verdicts']}")
    for key, label in (("wall", "process wall time"), ("run", "run time (as printed)")):
        values = {t: [f[key] for f in figures[t] if f[key] is not None] for t in figures}
        if not values["sandbox"] or not values["prosody"]:
            continue
        sandbox, real = statistics.median(values["sandbox"]), statistics.median(values["prosody"])
        ratio = real / sandbox if sandbox else float("inf")
        verdict = "met" if ratio >= SUITE_GOAL else "NOT met"
        print(
            f"median {label}: sandbox {sandbox:.2f} s, prosody {real:.2f} s: "
            f"{ratio:.1f}x (goal >= {SUITE_GOAL:g}x: {verdict})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per bench scenario")
    parser.add_argument(
        "--prosody",
        default=None,
        help="the Prosody both targets run: 0.12, 13 or a launcher (default: the harness')",
    )
    parser.add_argument("--sandbox-only", action="store_true", help="no real Prosody figures")
    parser.add_argument(
        "--suite",
        nargs="+",
        default=["scenarios"],
        help="scenario files or folders for the suite figure (default: scenarios)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="suite runs per target")
    parser.add_argument("--no-suite", action="store_true", help="skip the suite figure")
    args = parser.parse_args(argv)

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    scenario_table(args.seconds, args.prosody, real=not args.sandbox_only)
    if not args.no_suite and not args.sandbox_only:
        suite_table(args.suite, max(1, args.rounds), args.prosody)
    return 0


if __name__ == "__main__":
    sys.exit(main())
