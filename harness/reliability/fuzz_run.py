"""A fuzzing session of one surface on one started server: schemathesis cases from the
document (valid and invalid data, every operation) and hostile raw requests (hostile.py),
each judged on its own (verdict.py), with a fixed budget and seed. Findings are collected,
not raised, so one session reports everything it found."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import requests
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from harness.reliability.hostile import HostileRequest, SurfaceShape, hostile_requests
from harness.reliability.known_defects import known_defect
from harness.reliability.openapi_index import OpenApiIndex
from harness.reliability.raw_http import exchange
from harness.reliability.surfaces import FuzzServer, Surface
from harness.reliability.verdict import (
    LOG,
    NO_ANSWER,
    SCHEMA,
    SERVER_ERROR,
    SLOW,
    UNDOCUMENTED,
    Finding,
    judge_hostile,
)

SHORT_LOOK_SECONDS = 4.0


@dataclass
class FuzzStats:
    surface: str
    version: str
    schemathesis_requests: int = 0
    hostile_requests: int = 0
    families: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        return self.schemathesis_requests + self.hostile_requests

    @property
    def unknown(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.known is None]

    def add(self, findings: list[Finding]) -> None:
        for finding in findings:
            finding.known = known_defect(finding)
        self.findings += findings

    def to_json(self) -> dict:
        return {
            "surface": self.surface,
            "version": self.version,
            "requests": self.requests,
            "schemathesis_requests": self.schemathesis_requests,
            "hostile_requests": self.hostile_requests,
            "families": dict(self.families),
            "statuses": dict(self.statuses),
            "seconds": round(self.seconds, 1),
            "findings": [finding.to_json() for finding in self.findings],
        }


def _settings(budget: int):
    return settings(
        max_examples=budget,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def fuzz_hostile(
    surface: Surface,
    server: FuzzServer,
    version: str,
    budget: int,
    fixed_seed: int,
    stats: FuzzStats,
) -> None:
    """`budget` hostile requests, one connection each."""
    index = OpenApiIndex(surface.document, surface.tags)
    index.operations = [op for op in index.operations if op.label not in surface.exclude]
    shape = SurfaceShape(
        surface.base_path,
        authorization=surface.authorization,
        body_limit=surface.body_limit,
        body_limit_is_the_servers=surface.body_limit_is_the_servers,
    )

    @_settings(budget)
    @seed(fixed_seed)
    @given(hostile_requests(index, shape))
    def one(request: HostileRequest) -> None:
        server.between_requests()
        server.problems()
        # A request announcing more body than it sends may be waited on, and one a server
        # may refuse by closing is refused at once or never: a short look at either.
        bound = (
            SHORT_LOOK_SECONDS if request.incomplete or request.may_be_cut else surface.bound + 2
        )
        response = exchange(server.host, server.port, request.to_bytes(), bound)
        stats.hostile_requests += 1
        stats.families[request.family] += 1
        stats.statuses[str(response.status or response.outcome)] += 1
        stats.add(
            judge_hostile(
                surface.name,
                version,
                request,
                response,
                index,
                surface.base_path,
                min(bound, surface.bound),
                _settled(server),
            )
        )

    one()


def fuzz_schemathesis(
    surface: Surface,
    server: FuzzServer,
    version: str,
    budget: int,
    fixed_seed: int,
    stats: FuzzStats,
) -> None:
    """Up to `budget` schemathesis cases per operation, valid and invalid alike."""
    import schemathesis
    from schemathesis import checks
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_path(str(surface.document))
    if surface.tags:
        schema = schema.include(tag=sorted(surface.tags))
    to_check = [
        checks.not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_schema_conformance,
        checks.response_headers_conformance,
    ]
    headers = {"Authorization": surface.authorization} if surface.authorization else {}
    base_url = server.base_url + surface.base_path
    session = requests.Session()
    session.trust_env = False  # the server is local: no proxy from the environment
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in surface.exclude:
            continue
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @_settings(budget)
        @seed(fixed_seed)
        @given(strategy)
        def one(case) -> None:
            server.between_requests()
            server.problems()
            stats.schemathesis_requests += 1
            stats.families["schemathesis"] += 1
            stats.add(
                _judge_case(surface, version, case, base_url, headers, session, to_check, server)
            )

        one()
    session.close()


def _judge_case(
    surface: Surface,
    version: str,
    case,
    base_url: str,
    headers: dict,
    session: requests.Session,
    to_check: list,
    server: FuzzServer,
) -> list[Finding]:
    described = f"[schemathesis] {case.method} {case.formatted_path} body={case.body!r}"[:300]

    def finding(kind: str, detail: str, status: int = 0, body: bytes = b"") -> Finding:
        return Finding(
            surface.name,
            version,
            kind,
            detail,
            described,
            case.method,
            case.formatted_path,
            {k.lower(): str(v) for k, v in (case.headers or {}).items()},
            status=status,
            response_body=body,
        )

    found: list[Finding] = []
    started = time.monotonic()
    try:
        response = case.call(
            base_url=base_url, session=session, headers=headers, timeout=surface.bound + 2
        )
    except requests.RequestException as exc:
        found.append(finding(NO_ANSWER, f"{type(exc).__name__}: {exc}"[:300]))
        response = None
    elapsed = time.monotonic() - started
    if response is not None:
        if elapsed > surface.bound:
            found.append(finding(SLOW, f"answered after {elapsed:.2f} s", response.status_code))
        try:
            case.validate_response(response, checks=to_check)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - a group of failures
            for failure in getattr(exc, "exceptions", None) or [exc]:
                name = type(failure).__name__
                kind = (
                    SERVER_ERROR
                    if "ServerError" in name
                    else SCHEMA
                    if "Schema" in name
                    else UNDOCUMENTED
                )
                title = getattr(failure, "title", "") or name
                found.append(
                    finding(
                        kind,
                        f"{title}: {failure}"[:500],
                        response.status_code,
                        response.content[:2000],
                    )
                )
    problems = _settled(server)
    if problems:
        found.append(finding(LOG, problems[0][:400]))
    for item in found:
        item.log = problems
    return found


def _settled(server: FuzzServer) -> list[str]:
    """What the server logged while handling the request (a moment for late lines)."""
    problems = server.problems()
    if not problems:
        time.sleep(0.005)
        problems = server.problems()
    return problems


def fuzz_surface(
    surface: Surface, version: str, schemathesis_budget: int, hostile_budget: int, fixed_seed: int
) -> FuzzStats:
    """Start the surface's server, fuzz it both ways, stop it."""
    stats = FuzzStats(surface.name, version)
    started = time.monotonic()
    server = surface.start(version)
    try:
        if schemathesis_budget:
            fuzz_schemathesis(surface, server, version, schemathesis_budget, fixed_seed, stats)
        if hostile_budget:
            fuzz_hostile(surface, server, version, hostile_budget, fixed_seed, stats)
        time.sleep(0.2)
        stats.add(
            [
                Finding(surface.name, version, LOG, line, "(after the session)", log=[line])
                for line in server.problems()
            ]
        )
    finally:
        server.stop()
    stats.seconds = time.monotonic() - started
    return stats


__all__ = ["FuzzStats", "fuzz_surface", "SLOW"]
