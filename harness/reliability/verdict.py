"""The verdict on one fuzzed request: no 5xx, an answer (or, for a request that is not
valid HTTP, a close) within its bound, an answer the document describes, and nothing at
error level or a traceback in the server's log while it was handled."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.reliability.hostile import HostileRequest
from harness.reliability.openapi_index import (
    OpenApiIndex,
    documents_status,
    response_schema,
    schema_problem,
)
from harness.reliability.raw_http import ANSWERED, CLOSED, RESET, RawResponse

SERVER_ERROR, SLOW, NO_ANSWER = "server-error", "slow", "no-answer"
UNDOCUMENTED, SCHEMA, LOG = "undocumented-status", "schema-mismatch", "log-error"
MODULE_TYPES = ("application/json", "application/xmpp+xml", "application/xml", "text/xml")


@dataclass
class Finding:
    """One way a request broke the rules; `known` names the known defect it is."""

    surface: str
    version: str
    kind: str
    detail: str
    request: str
    method: str = ""
    target: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    status: int = 0
    response_body: bytes = b""
    log: list[str] = field(default_factory=list)
    known: str | None = None
    head_bytes: int = 0

    def to_json(self) -> dict:
        return {
            "surface": self.surface,
            "version": self.version,
            "kind": self.kind,
            "detail": self.detail[:500],
            "request": self.request[:300],
            "status": self.status,
            "known": self.known,
            "log": [line[:300] for line in self.log[:5]],
        }


def judge_hostile(
    surface: str,
    version: str,
    request: HostileRequest,
    response: RawResponse,
    index: OpenApiIndex,
    base_path: str,
    bound: float,
    new_log: list[str],
) -> list[Finding]:
    """Every rule the exchange broke (an empty list: a clean request)."""

    def finding(kind: str, detail: str) -> Finding:
        return Finding(
            surface,
            version,
            kind,
            detail,
            request.describe(),
            request.method,
            request.target,
            {k.lower(): v or "" for k, v in request.headers},
            request.body[:2000],
            response.status,
            response.body[:2000],
            new_log,
            head_bytes=request.head_bytes,
        )

    found: list[Finding] = []
    if response.outcome == ANSWERED:
        if response.status >= 500 and not _protocol_refusal(request, response.status):
            found.append(
                finding(SERVER_ERROR, f"answered {response.status}: {response.body[:200]!r}")
            )
        if response.seconds > bound:
            found.append(
                finding(SLOW, f"answered after {response.seconds:.2f} s (bound {bound:g} s)")
            )
        problem = _conformance(request, response, index, base_path)
        if problem:
            found.append(finding(*problem))
    elif response.outcome in (CLOSED, RESET):
        if not request.may_be_cut:
            found.append(
                finding(
                    NO_ANSWER,
                    f"connection {response.outcome} without an answer "
                    f"after {response.seconds:.2f} s",
                )
            )
    elif not request.incomplete:
        found.append(
            finding(
                NO_ANSWER,
                f"no answer and no close within {bound:g} s; received {response.raw_head[:120]!r}",
            )
        )
    if new_log:
        found.append(finding(LOG, new_log[0][:400]))
    return found


def _protocol_refusal(request: HostileRequest, status: int) -> bool:
    """501 for a method the server does not implement and 505 for an HTTP version it does
    not speak are the answers RFC 9110 prescribes, not failures of the server."""
    return (status == 501 and request.family == "method") or (
        status == 505 and request.family == "request-line"
    )


def _conformance(
    request: HostileRequest, response: RawResponse, index: OpenApiIndex, base_path: str
) -> tuple[str, str] | None:
    """Does the answer keep to the document? Asked of requests the document describes:
    well-framed HTTP reaching the operation they were built from (a hostile payload or
    header value, not broken framing, a head or body over a server limit, or a body
    sent to an operation that takes none). Pages of the HTTP server itself (not the
    module's media types) are judged by their status alone (no 5xx)."""
    if response.content_type not in MODULE_TYPES or request.operation is None:
        return None
    if request.may_be_cut or request.family in ("request-line", "method", "path"):
        return None
        return None
    path = request.target.partition("?")[0]
    if not path.startswith(base_path):
        return None
    operation = index.find(request.method, path[len(base_path) :])
    if operation is None or operation.label != request.operation:
        return None
    if request.body and not operation.media_types():
        return None  # a body the operation does not take: outside the document
    if not documents_status(operation, response.status):
        return UNDOCUMENTED, (
            f"{operation.label} answered {response.status}, which the "
            f"document does not list ({sorted(operation.statuses())})"
        )
    if response.content_type == "application/json" and response.body:
        schema = response_schema(operation, response.status, "application/json")
        if schema:
            problem = schema_problem(schema, response.body)
            if problem:
                return SCHEMA, f"{operation.label} {response.status}: {problem}"
    return None
