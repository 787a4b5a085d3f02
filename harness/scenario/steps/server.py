"""Steps about the server itself: its log, and the passing of time."""

from __future__ import annotations

from harness.scenario.steps.kind import StepFailed, StepKind, StepParse, StepRun

LOG_LEVELS = ("debug", "info", "warn", "error")
POLL_TIMEOUT = 2.0


def _parse_log(parse: StepParse, step, match, value, extras, path) -> None:
    value = parse.mapping(value, path, "log contains")
    parse.only_keys(value, ("level", "text"), path)
    if "text" not in value:
        raise parse.error(path, "log contains needs text")
    if value.get("level", "error") not in LOG_LEVELS:
        raise parse.error(path, f"level must be one of {', '.join(LOG_LEVELS)}")
    step.params["value"] = value


def _log_contains(run: StepRun, step) -> None:
    wanted = run.value(step.params["value"])
    level, text = wanted.get("level"), str(wanted["text"])

    def mismatch() -> StepFailed | None:
        lines = run.log_since_start()
        if any(text in line.message and (level is None or line.level == level) for line in lines):
            return None
        at = f" at level {level}" if level else ""
        return StepFailed(
            f"no log line{at} contains {text!r} ({len(lines)} lines since the "
            "scenario started; see the log below)"
        )

    run.poll(step.timeout if step.timeout is not None else POLL_TIMEOUT, mismatch)


def _parse_wait(parse: StepParse, step, match, value, extras, path) -> None:
    step.params["seconds"] = parse.seconds(value, path)


def _wait(run: StepRun, step) -> None:
    run.target.wait(step.params["seconds"])


SERVER_STEPS = (
    StepKind(
        "log_contains",
        r"log contains",
        "",
        "log contains: {level, text}",
        "the Prosody log has a line at that level containing text (polled, bound "
        "`timeout:`, default 2 s; lines written while the server started count)",
        _parse_log,
        _log_contains,
        extra_keys=("timeout",),
    ),
    StepKind(
        "wait",
        r"wait",
        "",
        "wait: SECONDS",
        "let time pass (virtual on the sandbox)",
        _parse_wait,
        _wait,
        value_schema={"type": "number", "minimum": 0, "maximum": 600},
    ),
)
