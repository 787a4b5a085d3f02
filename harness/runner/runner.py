"""Running many scenarios on one or more targets: selection, parallelism, server reuse."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from harness.runner.execute import ScenarioRun
from harness.runner.loading import load_files
from harness.runner.pool import ServerPool
from harness.runner.processes import run_in_processes, worker_processes
from harness.runner.provenance import modules_digest
from harness.runner.results import (
    ERROR,
    FAILED,
    PASSED,
    SKIPPED,
    Disagreement,
    RunReport,
    ScenarioResult,
    TargetShare,
)
from harness.runner.select import compile_keywords
from harness.scenario import Scenario, ScenarioError, discover
from harness.target import TargetError
from harness.targets import TARGETS, TargetSpec, target_class


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


@dataclass
class RunOptions:
    targets: list[str]
    modules_dir: str | None = None
    workers: int = field(default_factory=default_workers)
    prosody: str | None = None  # "0.12", "13" or a launcher path, on every target
    image: str | None = None  # docker target only
    docker_network: str | None = None
    reuse: bool = True
    keyword: str | None = None
    stop_on_failure: bool = False  # -x
    coverage: Any = None  # --coverage: a harness.coverage.CoverageRecorder


@dataclass
class Loaded:
    scenarios: list[Scenario]
    invalid: list[ScenarioError]


def load_all(paths: list[str], keyword: str | None = None, processes: int = 1) -> Loaded:
    """Every scenario under `paths` (files or folders), filtered by -k; invalid files kept
    as errors (unless -k rules out their path). `processes`: how many may load at once
    (harness.runner.loading)."""
    chosen = compile_keywords(keyword) if keyword else (lambda texts: True)
    loaded = Loaded([], [])
    for file, scenarios in load_files(discover(paths), processes):
        if isinstance(scenarios, ScenarioError):
            if chosen([file]):
                loaded.invalid.append(scenarios)
            continue
        for scenario in scenarios:
            if chosen([scenario.name, scenario.file, *scenario.tags]):
                loaded.scenarios.append(scenario)
    return loaded


def available_targets(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """The targets among `names` whose implementation loads, and why the others do not."""
    usable, missing = [], {}
    for name in names:
        try:
            target_class(name)
        except (ImportError, TargetError, AttributeError) as exc:
            missing[name] = f"{type(exc).__name__}: {exc}"
        else:
            usable.append(name)
    return usable, missing


def resolve_target_names(choice: str | None) -> list[str]:
    """`all` -> every target; None -> the sandbox when it loads, else real Prosody."""
    from harness.targets import DEFAULT_TARGET

    if choice == "all":
        return list(TARGETS)
    if choice:
        return [choice]
    usable, _ = available_targets([DEFAULT_TARGET])
    return usable or ["prosody"]


class Runner:
    def __init__(
        self, options: RunOptions, on_result: Callable[[ScenarioResult], None] | None = None
    ):
        self.options = options
        self.on_result = on_result or (lambda result: None)
        self._stop = threading.Event()
        self._unusable: dict[str, str] = {}  # target -> why it cannot start at all
        self._lock = threading.Lock()

    def run(self, loaded: Loaded) -> RunReport:
        import time

        started = time.monotonic()
        report = RunReport(
            modules_dir=self.options.modules_dir,
            modules_digest=modules_digest(self.options.modules_dir),
        )
        for error in loaded.invalid:
            result = ScenarioResult(
                error.file,
                error.file,
                error.line or 1,
                "-",
                ERROR,
                step_line=error.line,
                message=f"invalid scenario: {error}",
            )
            self._record(report, result)
        targets, report.unavailable = available_targets(self.options.targets)
        for target in targets:
            if self._stop.is_set():
                report.not_run += len(loaded.scenarios)
                continue
            self._run_target(target, loaded.scenarios, report)
        if len(targets) > 1:
            report.disagreements = disagreements(report.results)
        report.seconds = time.monotonic() - started
        return report

    def _run_target(self, target: str, scenarios: list[Scenario], report: RunReport) -> None:
        # Scenarios with the same key one after another, so they find their server idle.
        ordered = sorted(scenarios, key=lambda s: (s.reuse_key(), s.file))
        processes = worker_processes(self.options, target, ordered)
        if processes:
            report.add(target, run_in_processes(self, target, ordered, processes))
        else:
            self.run_in_threads(target, ordered, report)

    def run_in_threads(self, target: str, ordered: list[Scenario], report: RunReport) -> None:
        """Run `ordered` on `target` in this process, with `workers` threads, starting the
        servers of the next profiles in the background meanwhile."""
        pool = self.server_pool(target)
        pool.plan([s for s in ordered if s.runs_on(target, pool.series)], self.options.workers)
        try:
            outcomes = self.run_with(pool, target, ordered)
        finally:
            pool.close()
        report.add(target, self.share(pool, target, outcomes))

    def server_pool(self, target: str) -> ServerPool:
        spec = TargetSpec(
            target,
            self.options.modules_dir,
            self.options.prosody,
            self.options.image,
            self.options.docker_network,
            coverage=self.options.coverage,
        )
        return ServerPool(spec, self.options.reuse)

    def run_with(
        self, pool: ServerPool, target: str, scenarios: list[Scenario]
    ) -> list[ScenarioResult | None]:
        """Each scenario's result (None: not run), on `pool`'s servers, `workers` at once."""
        with ThreadPoolExecutor(max_workers=max(1, self.options.workers)) as executor:
            return list(executor.map(lambda s: self._run_one(pool, target, s), scenarios))

    def run_in_turn(
        self, pool: ServerPool, target: str, scenarios: list[Scenario]
    ) -> list[ScenarioResult | None]:
        """As run_with, one after another on this thread: a forked worker's way, with no
        thread of its own to start and hand each scenario to (about 4% of its time)."""
        return [self._run_one(pool, target, scenario) for scenario in scenarios]

    def share(
        self, pool: ServerPool, target: str, outcomes: list[ScenarioResult | None]
    ) -> TargetShare:
        """What `outcomes` (run_with's) on `pool` came to."""
        return TargetShare(
            [outcome for outcome in outcomes if outcome is not None],
            sum(1 for outcome in outcomes if outcome is None),
            pool.servers_started,
            pool.server_info,
            self._unusable.get(target),
        )

    def _run_one(self, pool: ServerPool, target: str, scenario: Scenario) -> ScenarioResult | None:
        if self._stop.is_set() or target in self._unusable:
            return None
        if not scenario.runs_on(target, pool.series):
            result = ScenarioResult.before_steps(scenario, target, SKIPPED, scenario.restriction())
            self.deliver(result)
            return result
        try:
            lease = pool.acquire(scenario)
        except Exception as exc:  # noqa: BLE001 - any start failure is this scenario's error
            reason = str(exc) if isinstance(exc, TargetError) else f"{type(exc).__name__}: {exc}"
            # A target that cannot start at all (docker without an engine, say) is
            # reported once as unavailable, not as an error per scenario.
            unavailable = pool.unavailable_reason()
            if unavailable is not None:
                self._unusable.setdefault(target, f"it did not start: {unavailable}")
                return None
            result = ScenarioResult.before_steps(
                scenario, target, ERROR, f"the {target} target did not start: {reason}"
            )
            self.deliver(result)
            return result
        result = ScenarioRun(scenario, lease.server).run()
        result.target = target  # the name it was asked by, whatever the class calls itself
        pool.release(lease, healthy=result.status != ERROR)
        self.deliver(result)
        return result

    def deliver(self, result: ScenarioResult) -> None:
        if result.status in (FAILED, ERROR) and self.options.stop_on_failure:
            self._stop.set()
        with self._lock:
            self.on_result(result)

    def _record(self, report: RunReport, result: ScenarioResult) -> None:
        report.results.append(result)
        self.deliver(result)


def disagreements(results: list[ScenarioResult]) -> list[Disagreement]:
    """Scenarios that passed on one target and failed on another (errors, such as a
    target that did not start, are reported as errors, not as verdicts)."""
    verdicts: dict[str, dict[str, str]] = {}
    for result in results:
        if result.status in (PASSED, FAILED):  # an error is no verdict
            # Like with like: targets are compared within one Prosody version.
            key = f"{result.id} (Prosody {result.prosody})" if result.prosody else result.id
            verdicts.setdefault(key, {})[result.target] = result.status
    return [
        Disagreement(sid, v)
        for sid, v in verdicts.items()
        if PASSED in v.values() and len(set(v.values())) > 1
    ]
