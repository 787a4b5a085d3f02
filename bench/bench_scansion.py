"""Prosody's own scansion corpus on real Prosody against the sandbox, in one run.

    .venv/bin/python bench/bench_scansion.py [--rounds N] [--workers N] [--prosody 13]

Fetches the corpus (spec/scansion/ of Prosody 13.0.1, see harness.scansion_corpus) if
needed, then runs the whole corpus on the prosody target and on the sandbox, the two
alternating round after round (prosody, sandbox, prosody, ...) so that both see the same
machine load. Prints, per target, the median and the best wall time of a whole corpus run,
the time per script, the servers started per run and the pass count; every run must pass
every script, and the two targets must agree on each (the benchmark stops otherwise).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.runner import Runner, RunOptions, load_all  # noqa: E402
from harness.runner.terminal import failure_text  # noqa: E402
from harness.scansion_corpus import fetch  # noqa: E402

TARGETS = ("prosody", "sandbox")


def one_run(loaded, target: str, workers: int, prosody: str) -> tuple[float, dict, int, str]:
    """Seconds, verdict per script, servers started, Prosody version."""
    started = time.perf_counter()
    report = Runner(RunOptions([target], workers=workers, prosody=prosody)).run(loaded)
    seconds = time.perf_counter() - started
    for result in report.results:
        if result.status != "passed":
            print(failure_text(result), file=sys.stderr)
    verdicts = {Path(r.file).name: r.status for r in report.results}
    version = report.targets.get(target, {}).get("prosody", "?")
    return seconds, verdicts, report.servers_started.get(target, 0), version


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="parallel scripts (default 2)")
    parser.add_argument("--prosody", default="13", help="the corpus is Prosody 13's (default)")
    args = parser.parse_args()
    loaded = load_all([str(fetch())])
    if loaded.invalid:
        raise SystemExit(f"the corpus does not load: {loaded.invalid[0]}")
    times: dict[str, list[float]] = {t: [] for t in TARGETS}
    seen: dict[str, dict] = {}
    servers: dict[str, int] = {}
    version = "?"
    for _ in range(args.rounds):
        for target in TARGETS:
            seconds, verdicts, started, version = one_run(
                loaded, target, args.workers, args.prosody
            )
            failed = sorted(name for name, status in verdicts.items() if status != "passed")
            if failed:
                raise SystemExit(f"{target}: the corpus must pass; not passed: {failed}")
            times[target].append(seconds)
            seen[target], servers[target] = verdicts, started
    if seen["prosody"] != seen["sandbox"]:
        raise SystemExit("prosody and the sandbox disagree on the corpus")
    count = len(seen["prosody"])
    print(
        f"Prosody {version} scansion corpus: {count} scripts, {args.rounds} alternating "
        f"rounds, {args.workers} workers"
    )
    header = ("target", "median s", "best s", "s/script", "servers", "passed")
    print(
        f"{header[0]:8} {header[1]:>9} {header[2]:>7} {header[3]:>9} {header[4]:>7} {header[5]:>7}"
    )
    for target in TARGETS:
        median = statistics.median(times[target])
        print(
            f"{target:8} {median:>9.2f} {min(times[target]):>7.2f} {median / count:>9.3f} "
            f"{servers[target]:>7} {count:>4}/{count}"
        )
    ratio = statistics.median(times["prosody"]) / statistics.median(times["sandbox"])
    print(f"the sandbox runs the corpus {ratio:.1f}x as fast as real Prosody")
    return 0


if __name__ == "__main__":
    sys.exit(main())
