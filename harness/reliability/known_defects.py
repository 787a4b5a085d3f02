"""Defects the fuzzers and the fault matrix found that are not fixed here: in Prosody
itself (upstream), or in modules whose owners fix them (mod_http_roster_admin,
mod_muc_http_auth). Each has a test marked xfail that reproduces it exactly
(tests/reliability/test_known_defects.py); a finding that matches one is counted as
known instead of failing the run, and every other finding fails it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.reliability.verdict import LOG, NO_ANSWER, Finding


@dataclass(frozen=True)
class KnownDefect:
    id: str
    component: str  # where the fix belongs
    summary: str
    test: str  # the xfail test that reproduces it
    matches: Callable[[Finding], bool]


def _invalid_content_length(finding: Finding) -> bool:
    length = finding.headers.get("content-length", "").strip()
    if not (length.startswith("-") or "." in length):
        return False
    return finding.kind == NO_ANSWER or (
        finding.kind == LOG and any("dbuffer.lua" in line for line in finding.log)
    )


def _oversize_head_left_open(finding: Finding) -> bool:
    return (
        finding.version == "0.12"
        and finding.kind == NO_ANSWER
        and finding.head_bytes > 8 * 1024
        and "no close" in finding.detail
    )


def _chunked_body_left_behind(finding: Finding) -> bool:
    return (
        finding.kind == NO_ANSWER
        and "chunked" in finding.headers.get("transfer-encoding", "").lower()
    )


def _method_with_hyphen(finding: Finding) -> bool:
    return finding.kind == NO_ANSWER and "-" in finding.method


KNOWN_DEFECTS = [
    KnownDefect(
        "prosody-invalid-content-length",
        "Prosody 0.12.3 and 13.0.1 (net.http.server, util.dbuffer): upstream",
        "A request whose `Content-Length` is negative or not an integer (`-1`, `1.5`) makes "
        "Prosody's HTTP server log `Error calling onincoming: util/dbuffer.lua:41: ...` with "
        "a traceback, and the connection is left open without an answer. Every HTTP route "
        "is affected; no module sees the request.",
        "test_known_defects.py::test_an_invalid_content_length_is_refused_cleanly",
        _invalid_content_length,
    ),
    KnownDefect(
        "prosody-0.12-oversize-head-left-open",
        "Prosody 0.12.3 (net.http.server): upstream, fixed in 13",
        "A request head over about 10 KiB (a long path, a long header, 2,000 headers) gets "
        "no answer and the connection is left open until the client gives up; 13 closes it "
        "at once.",
        "test_known_defects.py::test_an_oversize_request_head_is_closed_promptly",
        _oversize_head_left_open,
    ),
    KnownDefect(
        "prosody-chunked-request-body",
        "Prosody 0.12.3 and 13.0.1 (net.http.server, net.http.parser): upstream",
        "A request whose body is sent `Transfer-Encoding: chunked` is handed to the module "
        "before its body arrives, with an empty body (the roster refresh answers 400 "
        "'empty body'); the chunks are then read as the next request (`error_cb: "
        "invalid-status-line`) and the connection is closed, so a module that answers "
        "asynchronously (a refresh that fetches a roster) never gets its answer out.",
        "test_known_defects.py::test_a_chunked_request_body_reaches_the_module",
        _chunked_body_left_behind,
    ),
    KnownDefect(
        "prosody-method-with-hyphen",
        "Prosody 0.12.3 and 13.0.1 (net.http.parser): upstream",
        "A request whose method has a `-` (`M-SEARCH`, a valid HTTP token) is taken for a "
        "malformed request line: the connection is closed without an answer, where a 405 "
        "or 501 would be expected.",
        "test_known_defects.py::test_a_method_with_a_hyphen_gets_an_answer",
        _method_with_hyphen,
    ),
]


def known_defect(finding: Finding) -> str | None:
    """The id of the known defect this finding is, if any."""
    for defect in KNOWN_DEFECTS:
        if defect.matches(finding):
            return defect.id
    return None


#: What the runs found and this work fixed (each has a test or a fuzzed request that
#: would catch it again).
FIXED_DEFECTS = [
    {
        "component": "mod_http_roster_admin and mod_muc_http_auth (pooled_http.lib.lua)",
        "summary": "a 50 MB answer could be read whole in one go (net.connect reads whatever "
        "has arrived) and then decoded, stalling Prosody for seconds (a refresh took 32 s, "
        "pings 5 s); now reads are at most 64 KiB and an answer over 10 MiB is refused at "
        "its head, as Prosody's own HTTP client does (the fault matrix's 50 MB cells)",
    },
    {
        "component": "mod_http_roster_admin",
        "summary": 'a refresh naming only invalid usernames (`["bad user"]`, a name over '
        "1023 bytes) answered 500, a server error for the caller's mistake; now 400 with "
        "the counts (test_known_defects.py, refresh_only_invalid_names.yaml)",
    },
    {
        "component": "mock backends",
        "summary": "deeply nested JSON (20,000 levels) made the control API and the webhook "
        "mock fail with a RecursionError (500, 'the mock failed'); now 400",
    },
    {
        "component": "mock backends' openapi.yaml",
        "summary": "GET /_mock/openapi.yaml was documented as a JSON string (it is the YAML "
        "document), and GET /_mock/received as a list of well-formed stanzas (it "
        "lists any JSON object the webhook mock accepted)",
    },
    {
        "component": "scenario loader",
        "summary": "a NUL byte or 20,000 nested brackets crashed it with a traceback; an alias "
        "bomb took 5 GB and minutes, a 24 MB file 2 GB and minutes; and 12 % of "
        "files cut at a random byte ran silently as another, shorter scenario. Now "
        "each is a clear error (binary file, nesting, more than 200,000 values, over "
        "4 MiB, a last line without a line break)",
    },
    {
        "component": "prosody-harness run",
        "summary": "SIGTERM killed it without stopping anything in order, and SIGTERM or "
        "SIGKILL left its run directories, test certificates and sandbox data in "
        "/tmp (and containers until a later run); now a run keeps its files in one "
        "folder that a reaper process removes, with its containers, however it ends",
    },
]
