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

With `--against-commit REV` (or `--against DIR`, another checkout of the project) the
sandbox is measured against itself instead: this tree and the baseline's, each whole (its
harness, modules and suite), both tables on the sandbox only, the two alternating round by
round, each round a process per arm. It prints ours, the baseline and their ratio: how a
change to the harness is judged against the commit before it. The baseline's worktree is
temporary; it uses this tree's fetched Prosody versions but a load cache of its own.

Run:

    .venv/bin/python bench/bench_sandbox.py [--seconds 3] [--prosody 0.12|13]
        [--suite scenarios] [--rounds 1] [--sandbox-only] [--no-suite]
        [--against-commit REV | --against DIR]
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

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


def run_suite(
    target_name: str, suite: list[str], prosody: str | None, arm: Arm | None = None
) -> dict:
    """One `prosody-harness run` process: its wall time, its own time and its verdicts
    (of this tree's harness, or of `arm`'s)."""
    with tempfile.TemporaryDirectory() as folder:
        report_path = os.path.join(folder, "report.json")
        command = [sys.executable, "-m", "harness.cli", "run", *suite, "--target", target_name]
        command += ["--json", report_path] + (["--prosody", prosody] if prosody else [])
        started = time.perf_counter()
        subprocess.run(
            command,
            cwd=arm.tree if arm else ROOT,
            env=arm.env if arm else None,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
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
                f"  {arm.label if arm else target_name}: {result['status']}: "
                f"{result['file']}: {result['step']}: "
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


# -- this tree against a baseline ---------------------------------------------------------


class Arm:
    """A checkout of the project measured as a whole: its own harness (first on the
    path), modules and suite; `cache` is its PROSODY_HARNESS_CACHE (None: the default)."""

    def __init__(self, label: str, tree: Path, origin: str, cache: Path | None) -> None:
        self.label, self.tree, self.origin = label, tree, origin
        self.env = dict(os.environ, PYTHONPATH=str(tree))
        if cache is not None:
            self.env["PROSODY_HARNESS_CACHE"] = str(cache)
        self.rates: dict[str, list[float]] = {}
        self.suite: list[dict] = []


@contextmanager
def arms(against: str | None, against_commit: str | None) -> Iterator[list[Arm]]:
    """[ours, baseline]; a commit's worktree and the baseline's cache are removed after."""
    ours = Arm("ours", Path(ROOT), "this tree", None)
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as scratch:
        cache = _baseline_cache(Path(scratch) / "cache")
        if against_commit:
            from bench.side_by_side import commit_checkout

            with commit_checkout(against_commit) as (tree, commit):
                _compile(tree)
                origin = f"{against_commit} ({commit[:12]})"
                yield [ours, Arm("baseline", tree, origin, cache)]
            return
        tree = Path(against or "").resolve()
        if not (tree / "harness" / "cli.py").is_file():
            raise SystemExit(f"--against {against}: no checkout of the project there")
        yield [ours, Arm("baseline", tree, str(tree), cache)]


def _baseline_cache(folder: Path) -> Path:
    """A cache folder of the baseline's own (the load cache depends on the harness's
    code, so sharing it would have each arm throw away the other's), holding this tree's
    fetched Prosody versions, images and certificates rather than fetching them again."""
    folder.mkdir()
    ours = Path(os.environ.get("PROSODY_HARNESS_CACHE") or Path(ROOT) / ".cache")
    for name in ("prosody", "apt", "images", "tls"):
        if (ours / name).exists():
            (folder / name).symlink_to(ours / name)
    return folder


def _compile(tree: Path) -> None:
    """Bytecode for the baseline's Python, as `make setup` compiles this tree's."""
    folders = [str(tree / name) for name in ("harness", "mock_backends")]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *folders], capture_output=True, check=False
    )


def measure_arm(arm: Arm, seconds: float, prosody: str | None) -> None:
    """The fresh-target scenarios, measured by a process running `arm`'s harness."""
    command = [sys.executable, os.path.abspath(__file__), "--measure-json"]
    command += ["--seconds", str(seconds)] + (["--prosody", prosody] if prosody else [])
    result = subprocess.run(
        command,
        cwd=arm.tree,
        env=arm.env,
        capture_output=True,
        text=True,
        timeout=120 + 4 * seconds * len(SCENARIOS),
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"measuring {arm.label} ({arm.origin}) failed:\n{result.stderr[-3000:]}")
    for name, times in json.loads(result.stdout).items():
        arm.rates.setdefault(name, []).append(len(times) / sum(times))


def against_baseline(args: argparse.Namespace) -> None:
    # This process' own harness is not measured: the arms run in processes of their own,
    # each with its tree first on the path; the benchmarks' helpers come after.
    sys.path.append(ROOT)
    from bench.side_by_side import alternating

    with arms(args.against, args.against_commit) as (ours, baseline):
        for arm in (ours, baseline):
            print(f"{arm.label}: {arm.origin}")
        rounds = max(1, args.rounds)
        for _round, arm in alternating(rounds, [ours, baseline]):
            measure_arm(arm, args.seconds, args.prosody)
        print(
            f"\n{'bench scenario (fresh target)':30} {'ours/s':>8} {'baseline/s':>11} "
            f"{'ratio':>6}  (median of {rounds} round(s); ratio = ours / baseline)"
        )
        for name in SCENARIOS:
            mine, theirs = (statistics.median(arm.rates[name]) for arm in (ours, baseline))
            print(f"{name:30} {mine:8.1f} {theirs:11.1f} {mine / theirs:6.2f}")
        if args.no_suite:
            return
        print(
            f"\nthe whole suite ({' '.join(args.suite)}) on the sandbox, one process per "
            "run, alternating (a first run of each, not counted, warms its caches):"
        )
        print(f"{'round':>5} {'arm':8} {'wall s':>8} {'run s':>8}  verdicts")
        for arm in (ours, baseline):
            run_suite("sandbox", args.suite, args.prosody, arm)
        for round_number, arm in alternating(rounds, [ours, baseline]):
            figure = run_suite("sandbox", args.suite, args.prosody, arm)
            arm.suite.append(figure)
            run = f"{figure['run']:8.2f}" if figure["run"] is not None else f"{'n/a':>8}"
            print(
                f"{round_number + 1:5} {arm.label:8} {figure['wall']:8.2f} {run}  "
                f"{figure['verdicts']}"
            )
        for key, label in (("wall", "process wall time"), ("run", "run time (as printed)")):
            values = [[f[key] for f in arm.suite if f[key] is not None] for arm in (ours, baseline)]
            if all(values):
                mine, theirs = (statistics.median(v) for v in values)
                print(
                    f"median {label}: ours {mine:.2f} s, baseline {theirs:.2f} s: "
                    f"ratio {mine / theirs:.2f}"
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
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="suite runs per target (with --against*: rounds of each table per arm)",
    )
    parser.add_argument("--no-suite", action="store_true", help="skip the suite figure")
    baseline = parser.add_mutually_exclusive_group()
    baseline.add_argument(
        "--against-commit",
        metavar="REV",
        help="measure the sandbox against this commit's (checked out into a temporary git "
        "worktree), alternating, instead of against real Prosody",
    )
    baseline.add_argument(
        "--against", metavar="DIR", help="the same, against another checkout of the project"
    )
    parser.add_argument("--measure-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure_json:
        print(
            json.dumps(
                {
                    name: measure("sandbox", scenario, args.seconds, args.prosody)[0]
                    for name, scenario in SCENARIOS.items()
                }
            )
        )
        return 0

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if args.against_commit or args.against:
        against_baseline(args)
        return 0
    scenario_table(args.seconds, args.prosody, real=not args.sandbox_only)
    if not args.no_suite and not args.sandbox_only:
        suite_table(args.suite, max(1, args.rounds), args.prosody)
    return 0


if __name__ == "__main__":
    sys.exit(main())
