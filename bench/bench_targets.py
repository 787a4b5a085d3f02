"""Per-target timings: start to ready, stop, account creation, login, a message, an HTTP
request; and the whole scenario suite on each target.

    .venv/bin/python bench/bench_targets.py [--targets prosody,docker,sandbox]
        [--prosody 0.12,13] [--runs N] [--suite [DIR]] [--log-level debug|info|...]

Every target is measured with every Prosody version given, alternately, round by round,
so a noisy moment hits all of them. Prints the median (and min/max) of each; nothing is
asserted.

What is measured is the harness's targets, not a module: there are no arms (no --modules,
--against or ratio); the versions given to `--prosody` are compared with each other
instead. `--log-level` sets the level of the Prosody that the prosody and docker targets
run (the sandbox keeps its own); its default here is debug, the level the harness always
runs Prosody at, so the figures are what `prosody-harness run` sees.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.instrumented import harness_log_level  # noqa: E402
from bench.side_by_side import LOG_LEVELS, add_prosody_argument  # noqa: E402
from harness.profile import Profile  # noqa: E402
from harness.runner import Runner, RunOptions, load_all  # noqa: E402
from harness.targets import TargetSpec  # noqa: E402


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def label(spec: TargetSpec) -> str:
    return f"{spec.name}@{spec.prosody}" if spec.prosody else spec.name


def line(target: str, what: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{target:<13} {what:<28} median {statistics.median(ms):8.1f} ms"
        f"   min {min(ms):8.1f}   max {max(ms):8.1f}   (n={len(ms)})"
    )


def lifecycle(spec: TargetSpec, runs: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"start to ready": [], "stop": []}
    for _ in range(runs):
        target = spec.create(Profile())
        figures["start to ready"].append(timed(target.start))
        figures["stop"].append(timed(target.stop))
    return figures


def use(spec: TargetSpec, runs: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {}
    with spec.create(Profile()) as target:
        figures["create user"] = [
            timed(lambda i=i: target.create_user(f"user{i}", "localhost", "pw"))
            for i in range(max(runs, 2))
        ]
        target.connect("user0@localhost", "pw").disconnect()  # warm up slixmpp's imports
        logins = []
        for i in range(runs * 3):
            started = time.perf_counter()
            client = target.connect(f"user{i % runs}@localhost", "pw")
            logins.append(time.perf_counter() - started)
            client.disconnect()
        figures["connect + auth + bind"] = logins
        sender = target.connect("user0@localhost", "pw")
        receiver = target.connect("user1@localhost", "pw")
        trips = []
        for i in range(runs * 3):
            started = time.perf_counter()
            sender.send(f'<message to="{receiver.jid}" id="b{i}"><body>x</body></message>')
            receiver.receive(lambda e, i=i: e.get("id") == f"b{i}")
            trips.append(time.perf_counter() - started)
        figures["message, client to client"] = trips
        figures["HTTP GET /"] = [timed(lambda: target.http("GET", "/")) for _ in range(runs * 3)]
    return figures


def suite(spec: TargetSpec, path: str) -> tuple[float, int, bool]:
    loaded = load_all([path])
    options = RunOptions([spec.name], prosody=spec.prosody, image=spec.image)
    report = Runner(options).run(loaded)
    return report.seconds, len(report.results), report.ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="prosody,docker,sandbox")
    add_prosody_argument(parser, versions=True)
    parser.add_argument("--image", metavar="NAME", help="image for the docker target")
    parser.add_argument("--runs", type=int, default=5, help="rounds per measurement (default 5)")
    parser.add_argument(
        "--suite",
        nargs="?",
        const="scenarios",
        metavar="DIR",
        help="also time the whole suite (default folder: scenarios) on each target",
    )
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="debug",
        help="Prosody's log level on the prosody and docker targets (default: debug, as the "
        "harness runs it)",
    )
    args = parser.parse_args()
    with nullcontext() if args.log_level == "debug" else harness_log_level(args.log_level):
        measure(args)


def measure(args: argparse.Namespace) -> None:
    print(f"Prosody at {args.log_level} level on the prosody and docker targets")
    versions = args.prosody.split(",") if args.prosody else [None]
    specs = [
        TargetSpec(name, prosody=version, image=args.image)
        for version in versions
        for name in args.targets.split(",")
    ]
    for spec in specs:  # a first start builds images, fetches versions, warms caches
        with spec.create(Profile()):
            pass

    totals: dict[str, dict[str, list[float]]] = {label(spec): {} for spec in specs}
    for _ in range(args.runs):
        for spec in specs:
            for what, seconds in lifecycle(spec, 1).items():
                totals[label(spec)].setdefault(what, []).extend(seconds)
    for spec in specs:
        for what, seconds in use(spec, args.runs).items():
            totals[label(spec)][what] = seconds
    for what in next(iter(totals.values())):
        for spec in specs:
            print(line(label(spec), what, totals[label(spec)][what]))

    if args.suite:
        times = {}
        for spec in specs:
            seconds, count, ok = suite(spec, args.suite)
            times[label(spec)] = seconds
            verdict = "all passed" if ok else "NOT all passed"
            print(f"{label(spec):<13} suite {args.suite}: {count} in {seconds:.1f} s ({verdict})")
        for spec in specs:
            base = label(spec.on("prosody"))
            if base in times:
                ratio = times[label(spec)] / times[base]
                print(f"{label(spec):<13} suite time / {base}'s: {ratio:.2f}")


if __name__ == "__main__":
    main()
