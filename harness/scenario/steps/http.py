"""`http METHOD /path`: a request to Prosody's HTTP server, and what its answer must be."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from typing import Any

from harness import matching
from harness.scenario.placeholders import resolve
from harness.scenario.steps.kind import StepFailed, StepKind, StepParse, StepRun

HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
REQUEST_KEYS = ("json", "xml", "body", "headers", "auth", "content_type")
EXPECT_KEYS = ("status", "headers", "json", "xml", "body")
HTTP_TIMEOUT = 10.0


def _parse(parse: StepParse, step, match, value, extras, path) -> None:
    method = match["method"].upper()
    if method not in HTTP_METHODS:
        raise parse.error(
            path, f"unknown HTTP method {method!r} (one of {', '.join(HTTP_METHODS)})"
        )
    if not match["path"].startswith("/"):
        raise parse.error(path, f"the HTTP path must start with '/': {match['path']!r}")
    if not isinstance(value, (dict, type(None))):
        raise parse.error(path, "expected a mapping {json|xml|body, headers, auth, ...}")
    request = dict(value) if value is not None else {}
    expect_path = path[:-1] + ("expect",)
    if "expect" in request:  # indented under the request: take it, it is unambiguous
        if "expect" in extras:
            raise parse.error(path + ("expect",), "expect is given twice")
        extras = {**extras, "expect": request.pop("expect")}
        expect_path = path + ("expect",)
    parse.only_keys(request, REQUEST_KEYS, path)
    if sum(key in request for key in ("json", "xml", "body")) > 1:
        raise parse.error(path, "give at most one of json, xml, body")
    auth = request.get("auth")
    if auth is not None and not (isinstance(auth, list) and len(auth) == 2):
        raise parse.error(path + ("auth",), "auth must be [user, password]")
    if "xml" in request:
        parse.xml(request["xml"], path + ("xml",), client_ns=False)
    expect = extras.get("expect") or {}
    if not isinstance(expect, dict):
        raise parse.error(expect_path, "expect must be a mapping {status, headers, json, ...}")
    parse.only_keys(expect, EXPECT_KEYS, expect_path)
    if "xml" in expect:
        parse.xml(expect["xml"], expect_path + ("xml",), client_ns=False)
    step.params.update(method=method, path=match["path"], request=request, expect=expect)
    if "poll" in extras:  # repeat the request until `expect` holds, within this bound
        step.params["poll"] = parse.seconds(extras["poll"], path[:-1] + ("poll",))


def _run(run: StepRun, step) -> None:
    params = run.value(step.params)
    request, expect = params["request"], params["expect"]
    headers = {str(k): str(v) for k, v in (request.get("headers") or {}).items()}
    body: bytes | None = None
    if "json" in request:
        body = json.dumps(request["json"]).encode()
        headers.setdefault("Content-Type", "application/json")
    elif "xml" in request:
        body = request["xml"].encode()
        headers.setdefault("Content-Type", "application/xml")
    elif "body" in request:
        body = str(request["body"]).encode()
    if request.get("content_type"):
        headers["Content-Type"] = request["content_type"]
    if request.get("auth"):
        user = str(request["auth"][0])
        # A password is a secret, not a name: never renamed (accounts keep theirs too).
        password = str(resolve(step.params["request"]["auth"][1], run.variables))
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    timeout = step.timeout if step.timeout is not None else HTTP_TIMEOUT

    def mismatch() -> StepFailed | None:
        response = run.target.http(params["method"], params["path"], headers, body, timeout)
        try:
            check_response(response.status, response.headers, response.body, expect)
        except StepFailed as failure:
            return failure
        return None

    if "poll" not in params:
        failure = mismatch()
        if failure is not None:
            raise failure
        return
    run.poll(params["poll"], mismatch)


def check_response(
    status: int, headers: dict[str, str], body: bytes, expect: dict[str, Any]
) -> None:
    """Raise StepFailed when an HTTP answer does not meet `expect`."""
    text = body.decode("utf-8", "replace")
    shown = text if len(text) <= 500 else text[:500] + "..."
    if "status" in expect and status != expect["status"]:
        raise StepFailed(f"HTTP status {status}, expected {expect['status']}; body: {shown}")
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, wanted in (expect.get("headers") or {}).items():
        got = lowered.get(str(name).lower())
        if got is None or (str(wanted) not in matching.WILDCARDS and got != str(wanted)):
            raise StepFailed(f"HTTP header {name}: {got!r}, expected {wanted!r}")
    if "json" in expect:
        try:
            document = json.loads(body)
        except ValueError:
            raise StepFailed(f"the body is not JSON: {shown}") from None
        reason = matching.json_mismatch(expect["json"], document)
        if reason:
            raise StepFailed(
                f"JSON body differs: {reason}", matching.json_diff(expect["json"], document)
            )
    if "xml" in expect:
        pattern = ET.fromstring(expect["xml"].strip())
        try:
            document = ET.fromstring(body)
        except ET.ParseError as exc:
            raise StepFailed(f"the body is not XML ({exc}): {shown}") from None
        reason = matching.stanza_mismatch(pattern, document)
        if reason:
            raise StepFailed(
                f"XML body differs: {reason}",
                matching.stanza_diff(pattern, document, parent_ns=""),
            )
    if "body" in expect and text.strip() != str(expect["body"]).strip():
        raise StepFailed(
            "HTTP body differs",
            matching.text_diff(str(expect["body"]).strip().splitlines(), text.strip().splitlines()),
        )


HTTP_STEP = StepKind(
    "http",
    r"http (?P<method>[A-Za-z]+) (?P<path>\S+)",
    "",
    "http METHOD /path: {json|xml|body, headers, auth: [user, password], content_type} "
    "+ expect: {status, headers, json, xml, body}",
    "a request to Prosody's HTTP server; `json` expectations are subset matches; with "
    "`poll: SECONDS` the request is repeated until `expect` holds, at most that long",
    _parse,
    _run,
    extra_keys=("expect", "timeout", "poll"),
    bare=True,
    value_schema={"type": "object", "properties": {k: {} for k in REQUEST_KEYS}},
)
