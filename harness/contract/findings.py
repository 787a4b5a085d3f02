"""What a contract check found: findings with a severity, the exchanges they came from, and
the report that adds them up to an exit status."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """violation: the module would fail or misbehave with this answer. warning: it works, but
    is fragile or not what the app meant. info: worth knowing, nothing to fix."""

    VIOLATION = "violation"
    WARNING = "warning"
    INFO = "info"


SEVERITY_ORDER = {Severity.VIOLATION: 0, Severity.WARNING: 1, Severity.INFO: 2}

EXIT_CLEAN, EXIT_VIOLATIONS, EXIT_UNUSABLE = 0, 1, 2


@dataclass(frozen=True)
class Finding:
    """One observation. `code` is stable (tests and CI filters use it); `summary` says what
    the service did, `effect` what the module does with that, `upstream` what the
    prosody-modules module of the same name did where it differs, `hint` how to fix it."""

    severity: Severity
    code: str
    summary: str
    effect: str
    probe: str | None = None
    upstream: str | None = None
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {
            "severity": self.severity.value,
            "code": self.code,
            "probe": self.probe,
            "summary": self.summary,
            "effect": self.effect,
        }
        if self.upstream:
            data["upstream"] = self.upstream
        if self.hint:
            data["hint"] = self.hint
        return data


@dataclass
class Exchange:
    """One request the check made and what came back (or why nothing did).

    error_kind: refused, dns, connect-timeout (the service cannot be reached), timeout (no
    answer in time), dropped (closed without an answer), tls, other; None when answered."""

    probe: str
    method: str
    url: str
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: str | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased
    body: bytes = b""
    elapsed: float = 0.0
    error: str | None = None
    error_kind: str | None = None

    @property
    def answered(self) -> bool:
        return self.status is not None

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def excerpt(self, limit: int = 160) -> str:
        text = " ".join(self.text.split())
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def to_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "method": self.method,
            "url": self.url,
            "request_headers": self.request_headers,
            "request_body": self.request_body,
            "status": self.status,
            "content_type": self.content_type,
            "elapsed_ms": round(self.elapsed * 1000, 1),
            "body": self.excerpt(400) if self.answered else None,
            "error": self.error,
            "error_kind": self.error_kind,
        }


class Unreachable(Exception):
    """The service could not be reached at all: nothing about its answers can be said."""


@dataclass
class CheckReport:
    kind: str
    url: str
    module: str
    timeout: float
    timeout_is_default: bool
    calls: str = ""  # how the module calls the service, in one line
    exchanges: list[Exchange] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    unreachable: str | None = None

    def add(
        self,
        severity: Severity,
        code: str,
        summary: str,
        effect: str,
        *,
        probe: str | None = None,
        upstream: str | None = None,
        hint: str | None = None,
    ) -> Finding:
        finding = Finding(severity, code, summary, effect, probe, upstream, hint)
        for index, known in enumerate(self.findings):
            # The same answer to several probes is one finding naming them all.
            if (known.severity, known.code, known.summary, known.effect) == (
                severity,
                code,
                summary,
                effect,
            ):
                probes = ", ".join(p for p in (known.probe, probe) if p)
                self.findings[index] = Finding(
                    severity, code, summary, effect, probes or None, known.upstream, known.hint
                )
                return self.findings[index]
        self.findings.append(finding)
        return finding

    def count(self, severity: Severity) -> int:
        return sum(1 for finding in self.findings if finding.severity is severity)

    def codes(self, severity: Severity | None = None) -> list[str]:
        return [f.code for f in self.findings if severity is None or f.severity is severity]

    def sorted_findings(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: SEVERITY_ORDER[f.severity])

    def exit_status(self, strict: bool = False) -> int:
        if self.unreachable is not None:
            return EXIT_UNUSABLE
        if self.count(Severity.VIOLATION) or (strict and self.count(Severity.WARNING)):
            return EXIT_VIOLATIONS
        return EXIT_CLEAN

    def to_dict(self, strict: bool = False) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": self.url,
            "module": self.module,
            "timeout": {"seconds": self.timeout, "module_default": self.timeout_is_default},
            "calls": self.calls,
            "unreachable": self.unreachable,
            "probes": [exchange.to_dict() for exchange in self.exchanges],
            "findings": [finding.to_dict() for finding in self.sorted_findings()],
            "counts": {severity.value: self.count(severity) for severity in Severity},
            "exit_status": self.exit_status(strict),
        }
