"""What a person sees: one line per scenario as it finishes, then every failure in full."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from harness.runner.provenance import describe
from harness.runner.results import ERROR, FAILED, PASSED, SKIPPED, RunReport, ScenarioResult

LABELS = {PASSED: "PASS", FAILED: "FAIL", SKIPPED: "SKIP", ERROR: "ERROR"}
COLOURS = {PASSED: "32", FAILED: "31", SKIPPED: "33", ERROR: "31;1"}


class TerminalReport:
    def __init__(
        self, stream: TextIO | None = None, colour: bool | None = None, total: int | None = None
    ):
        self.stream = stream or sys.stdout
        if colour is None:  # a terminal gets colours, unless NO_COLOR says otherwise
            colour = self.stream.isatty() and not os.environ.get("NO_COLOR")
        self.colour = colour
        self.total = total
        self.done = 0

    def paint(self, text: str, status: str) -> str:
        return f"\033[{COLOURS[status]}m{text}\033[0m" if self.colour else text

    def progress(self, result: ScenarioResult) -> None:
        """One line per finished scenario (called from worker threads, serialised)."""
        self.done += 1
        counter = f"[{self.done}/{self.total}] " if self.total else ""
        label = self.paint(f"{LABELS[result.status]:5}", result.status)
        where = f"{result.target:8}" if result.target != "-" else " " * 8
        extra = f"  ({result.message})" if result.status == SKIPPED else ""
        self.stream.write(
            f"{counter}{label} {where} {result.file}: {result.name} "
            f"({result.duration:.2f}s){extra}\n"
        )
        self.stream.flush()

    def summary(self, report: RunReport) -> None:
        write = self.stream.write
        for result in report.results:
            if result.status in (FAILED, ERROR):
                write("\n" + failure_text(result, self.paint) + "\n")
        for target, why in report.unavailable.items():
            write(f"\ntarget {target} is not available here: {why}\n")
        if report.targets:
            write("\n")
        for target, info in report.targets.items():
            write(f"{target}: {describe(info)}\n")
        if report.targets:
            modules = report.modules_dir or "lua_modules/"
            write(f"modules: {modules} (digest {report.modules_digest})\n")
        for item in report.disagreements:
            verdicts = ", ".join(f"{t}={s}" for t, s in sorted(item.verdicts.items()))
            write(self.paint(f"\nVERDICTS DIFFER: {item.scenario_id}: {verdicts}", FAILED) + "\n")
        scansion = scansion_lines(report.results)
        if scansion:
            write("\n" + "\n".join(scansion) + "\n")
        parts = [
            f"{report.count(s)} {s}" for s in (PASSED, FAILED, ERROR, SKIPPED) if report.count(s)
        ]
        if report.not_run:
            parts.append(f"{report.not_run} not run (stopped at the first failure)")
        if report.disagreements:
            parts.append(f"{len(report.disagreements)} verdict disagreement(s)")
        servers = ", ".join(f"{n} {t} server(s)" for t, n in report.servers_started.items() if n)
        status = PASSED if report.ok else FAILED
        line = f"{', '.join(parts) or 'no scenarios'} in {report.seconds:.2f}s"
        write("\n" + self.paint(line, status) + (f" [{servers}]" if servers else "") + "\n")
        self.stream.flush()


def scansion_lines(results: list[ScenarioResult]) -> list[str]:
    """One line per target counting the scansion scripts (.scs), so that a regression in
    scansion support shows at a glance: "scansion scripts on prosody: 50/50 passed"."""
    by_target: dict[str, list[ScenarioResult]] = {}
    for result in results:
        if result.file.endswith(".scs"):
            by_target.setdefault(result.target, []).append(result)
    lines = []
    for target, found in by_target.items():
        ran = [r for r in found if r.status != SKIPPED]
        passed = sum(r.status == PASSED for r in ran)
        line = f"scansion scripts on {target}: {passed}/{len(ran)} passed"
        if len(ran) < len(found):
            line += f", {len(found) - len(ran)} skipped"
        failed = sorted(r.file.rsplit("/", 1)[-1] for r in ran if r.status != PASSED)
        if failed:
            line += f"; not passed: {', '.join(failed)}"
        lines.append(line)
    return lines


def failure_text(result: ScenarioResult, paint=lambda text, status: text) -> str:
    """The full story of one failure: where, what, expected against received, the log."""
    head = paint(f"{LABELS[result.status]}: {result.name}", result.status)
    lines = [head + (f"  [{result.target}]" if result.target != "-" else "")]
    if result.step:
        lines.append(f"  step {result.location}: {result.step}")
    else:
        lines.append(f"  at {result.location}")
    lines += [f"  {line}" for line in result.message.splitlines()]
    if result.diff:
        lines.append(
            "  expected (-) against received (+):" if "+++ received" in result.diff else "  detail:"
        )
        lines += [f"    {line}" for line in result.diff.splitlines()]
    if result.log_tail:
        lines.append(f"  last {len(result.log_tail)} lines of the Prosody log:")
        lines += [f"    {line}" for line in result.log_tail]
    return "\n".join(lines)
