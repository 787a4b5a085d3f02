"""Seconds per scenario on real Prosody, with and without server reuse.

    .venv/bin/python bench/bench_runner.py [PATH ...] [--rounds N] [--workers N]

Runs the scenarios (default: scenarios/core) several times in each mode and prints the
median wall time per scenario. "reuse" shares one server between scenarios with the same
profile; "fresh" starts a server for every scenario (`prosody-harness run --no-reuse`).
"""

from __future__ import annotations

import argparse
import statistics
import time

from harness.runner import Runner, RunOptions, load_all


def measure(paths: list[str], reuse: bool, workers: int, rounds: int) -> tuple[float, int, int]:
    """Median seconds per scenario, scenarios per round, servers started per round."""
    loaded = load_all(paths)
    per_scenario, servers = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        report = Runner(RunOptions(["prosody"], workers=workers, reuse=reuse)).run(loaded)
        elapsed = time.perf_counter() - started
        if not report.ok:
            failed = [r.id for r in report.results if not r.ok]
            raise SystemExit(f"benchmark scenarios must pass; failed: {failed}")
        per_scenario.append(elapsed / len(report.results))
        servers = report.servers_started.get("prosody", 0)
    return statistics.median(per_scenario), len(loaded.scenarios), servers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=["scenarios/core"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    print(f"{'mode':8} {'workers':>7} {'scenarios':>9} {'servers':>7} {'s/scenario':>10}")
    for reuse in (True, False):
        seconds, count, servers = measure(args.paths, reuse, args.workers, args.rounds)
        mode = "reuse" if reuse else "fresh"
        print(f"{mode:8} {args.workers:>7} {count:>9} {servers:>7} {seconds:>10.3f}")


if __name__ == "__main__":
    main()
