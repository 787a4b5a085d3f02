"""A check's report for people (the terminal) and for machines (JSON)."""

from __future__ import annotations

import json
import textwrap
from urllib.parse import urlsplit

from harness.contract.findings import CheckReport, Exchange, Finding, Severity

WIDTH = 100
LABELS = {Severity.VIOLATION: "VIOLATION", Severity.WARNING: "WARNING", Severity.INFO: "note"}
INDENT = " " * 12


def to_json(report: CheckReport, strict: bool = False) -> str:
    return json.dumps(report.to_dict(strict), indent=2, ensure_ascii=False)


def _target(exchange: Exchange, limit: int = 44) -> str:
    parts = urlsplit(exchange.url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return target if len(target) <= limit else target[: limit - 3] + "..."


def _outcome(exchange: Exchange) -> str:
    if not exchange.answered:
        return f"{exchange.error_kind}: {exchange.error}"
    media = (exchange.content_type or "no Content-Type").split(";", 1)[0]
    return f"{exchange.status} {media}"


def _probe_line(exchange: Exchange) -> str:
    name = exchange.probe if len(exchange.probe) <= 30 else exchange.probe[:27] + "..."
    millis = f"{exchange.elapsed * 1000:,.0f} ms"
    return (
        f"  {name:<30} {exchange.method:<7} {_target(exchange):<44} {_outcome(exchange)}  {millis}"
    )


def _wrapped(text: str, first: str) -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent=first, subsequent_indent=INDENT, break_on_hyphens=False
    ) or [first.rstrip()]


def _finding_lines(finding: Finding) -> list[str]:
    head = f"{LABELS[finding.severity]:<10}[{finding.code}] "
    where = f"{finding.probe}: " if finding.probe else ""
    lines = _wrapped(where + finding.summary, f"  {head}")
    lines += _wrapped(finding.effect, f"{INDENT}-> ")
    if finding.upstream:
        lines += _wrapped(finding.upstream, f"{INDENT}upstream: ")
    if finding.hint:
        lines += _wrapped(finding.hint, f"{INDENT}fix: ")
    return lines


def summary_line(report: CheckReport, strict: bool = False) -> str:
    counts = [
        f"{report.count(Severity.VIOLATION)} violation(s)",
        f"{report.count(Severity.WARNING)} warning(s)",
        f"{report.count(Severity.INFO)} note(s)",
    ]
    return f"result: {', '.join(counts)} (exit status {report.exit_status(strict)})"


def to_text(report: CheckReport, strict: bool = False) -> str:
    timeout = f"{report.timeout:g} s" + (
        " (the module's default)" if report.timeout_is_default else " (--timeout)"
    )
    lines = [
        f"check {report.kind} {report.url}",
        f"as {report.module} calls it: {report.calls or '-'}",
        f"timeout: {timeout}",
    ]
    if report.unreachable:
        lines += ["", f"UNREACHABLE: {report.unreachable}", "nothing was checked (exit status 2)"]
        return "\n".join(lines) + "\n"
    if report.exchanges:
        lines += ["", "probes:"] + [_probe_line(exchange) for exchange in report.exchanges]
    findings = report.sorted_findings()
    lines += ["", "findings:" if findings else "findings: none"]
    for finding in findings:
        lines += _finding_lines(finding)
    lines += ["", summary_line(report, strict)]
    return "\n".join(lines) + "\n"
