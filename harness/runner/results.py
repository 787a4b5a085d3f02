"""The outcome of one scenario on one target, and of a whole run, as every report reads
them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PASSED, FAILED, SKIPPED, ERROR = "passed", "failed", "skipped", "error"


@dataclass
class ScenarioResult:
    name: str
    file: str
    line: int
    target: str
    status: str = PASSED  # passed | failed | skipped | error
    prosody: str = ""  # the Prosody version it ran on (e.g. "13.0.1"), when known
    duration: float = 0.0
    tags: list[str] = field(default_factory=list)
    # Where and why it did not pass (empty when it passed).
    step: str = ""
    step_line: int | None = None
    message: str = ""
    diff: str = ""
    log_tail: list[str] = field(default_factory=list)
    shared_server: bool = False  # ran on a server other scenarios used too
    # Seconds spent per phase: "server start" (when this scenario started one),
    # "backends", "accounts", "step: KIND", "log check", "teardown" (see --profile).
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def before_steps(cls, scenario: Any, target: str, status: str, message: str) -> ScenarioResult:
        """The result of `scenario` (a harness.scenario.Scenario) decided before any of its
        steps ran: skipped, or no server to run it on."""
        return cls(
            scenario.name,
            scenario.file,
            scenario.line,
            target,
            status,
            tags=scenario.tags,
            message=message,
        )

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"

    @property
    def location(self) -> str:
        return f"{self.file}:{self.step_line or self.line}"

    @property
    def ok(self) -> bool:
        return self.status in (PASSED, SKIPPED)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["id"] = self.id
        return data


@dataclass
class Disagreement:
    scenario_id: str
    verdicts: dict[str, str]  # target -> status


@dataclass
class TargetShare:
    """What one target's scenarios came to, before it joins the run's report."""

    results: list[ScenarioResult] = field(default_factory=list)
    not_run: int = 0
    servers_started: int = 0
    server_info: dict[str, str] = field(default_factory=dict)
    unusable: str | None = None  # why the target could not start at all


@dataclass
class RunReport:
    results: list[ScenarioResult] = field(default_factory=list)
    disagreements: list[Disagreement] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)  # target -> why
    not_run: int = 0  # left out after -x stopped the run
    servers_started: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    modules_dir: str | None = None  # --modules (None: the project's lua_modules/)
    modules_digest: str = ""
    targets: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> what it ran

    @property
    def ok(self) -> bool:
        return (
            all(r.ok for r in self.results)
            and not self.disagreements
            and not self.not_run
            and bool(self.results)
        )

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    def add(self, target: str, share: TargetShare) -> None:
        """One target's share; a target that could not start at all is reported as
        unavailable, without results."""
        self.servers_started[target] = share.servers_started
        if share.server_info:
            self.targets[target] = share.server_info
        if share.unusable:
            self.unavailable[target] = share.unusable
            return
        self.results += sorted(share.results, key=lambda r: r.file)
        self.not_run += share.not_run
