"""Seconds per scenario on real Prosody, with and without server reuse.

    .venv/bin/python bench/bench_runner.py [PATH ...] [--rounds N] [--workers N]
        [--prosody 0.12|13|PATH] [--log-level debug|info|warn|error]

Runs the scenarios (default: scenarios/core) several times in each mode and prints the
median wall time per scenario. "reuse" shares one server between scenarios with the same
profile; "fresh" starts a server for every scenario (`prosody-harness run --no-reuse`).

What is measured is the runner, not a module: there are no arms (no --modules, --against
or ratio). Of the options the side-by-side benchmarks share it takes `--prosody` (the
version every server runs) and `--log-level`, whose default here is debug, the level the
harness always runs Prosody at (scenarios may read the log at that level: `log contains`);
`--log-level info` shows what the harness's logging costs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.instrumented import harness_log_level  # noqa: E402
from bench.side_by_side import LOG_LEVELS, add_prosody_argument  # noqa: E402
from harness.runner import Runner, RunOptions, load_all  # noqa: E402


def measure(
    paths: list[str], reuse: bool, workers: int, rounds: int, prosody: str | None
) -> tuple[float, int, int, str]:
    """Median seconds per scenario, scenarios per round, servers started per round, and
    the Prosody version they ran."""
    loaded = load_all(paths)
    per_scenario, servers, version = [], 0, "?"
    for _ in range(rounds):
        started = time.perf_counter()
        options = RunOptions(["prosody"], workers=workers, reuse=reuse, prosody=prosody)
        report = Runner(options).run(loaded)
        elapsed = time.perf_counter() - started
        if not report.ok:
            failed = [r.id for r in report.results if not r.ok]
            raise SystemExit(f"benchmark scenarios must pass; failed: {failed}")
        per_scenario.append(elapsed / len(report.results))
        servers = report.servers_started.get("prosody", 0)
        version = report.targets.get("prosody", {}).get("prosody", version)
    return statistics.median(per_scenario), len(loaded.scenarios), servers, version


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=["scenarios/core"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1)
    add_prosody_argument(parser)
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="debug",
        help="Prosody's log level (default: debug, as the harness runs it)",
    )
    args = parser.parse_args()
    level = nullcontext() if args.log_level == "debug" else harness_log_level(args.log_level)
    print(f"{'mode':8} {'workers':>7} {'scenarios':>9} {'servers':>7} {'s/scenario':>10}  prosody")
    with level:
        for reuse in (True, False):
            seconds, count, servers, version = measure(
                args.paths, reuse, args.workers, args.rounds, args.prosody
            )
            mode = "reuse" if reuse else "fresh"
            print(
                f"{mode:8} {args.workers:>7} {count:>9} {servers:>7} {seconds:>10.3f}  "
                f"{version} at {args.log_level} level"
            )


if __name__ == "__main__":
    main()
