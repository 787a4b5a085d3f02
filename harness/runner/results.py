"""The outcome of one scenario on one target, as every report reads it."""

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
