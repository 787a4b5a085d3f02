"""Running scenarios: one scenario's steps (execute), shared servers (pool), many
scenarios in parallel (runner) and the reports (terminal, JUnit XML, JSON)."""

from harness.runner.execute import ScenarioRun, ServerContext, StepFailed
from harness.runner.pool import ServerPool
from harness.runner.results import ERROR, FAILED, PASSED, SKIPPED, RunReport, ScenarioResult
from harness.runner.runner import (
    Loaded,
    Runner,
    RunOptions,
    load_all,
    resolve_target_names,
)

__all__ = [
    "ERROR",
    "FAILED",
    "PASSED",
    "SKIPPED",
    "Loaded",
    "RunOptions",
    "RunReport",
    "Runner",
    "ScenarioResult",
    "ScenarioRun",
    "ServerContext",
    "ServerPool",
    "StepFailed",
    "load_all",
    "resolve_target_names",
]
