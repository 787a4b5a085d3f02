"""Probes of a MUC authorization service, as mod_muc_http_auth asks it: `GET
URL?userJID=..&mucJID=..&nickname=..` (each percent-encoded), `Accept: application/json`, the
configured Authorization header; a join goes ahead only on 2xx with a JSON object whose
`allowed` is the JSON value true. All probes are GETs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from harness.contract import common
from harness.contract.findings import CheckReport, Exchange, Severity
from harness.contract.http_client import ServiceClient
from harness.contract.jid import prep, prep_bare
from harness.contract.options import CheckOptions, UsageError

MODULE_HEADERS = {"Accept": "application/json"}
SENDABLE = ("Authorization", "Accept")  # muc_http_auth_authorization_header
DEFAULT_USER = "prosody-harness-check@example.com"
DEFAULT_ROOM = "prosody-harness-check@rooms.example.com"
REFUSED = "every join asked about is refused"
TIMEOUT_EFFECT = "the join is refused ('service did not answer within ...', logged at warn)"
UPSTREAM_TIMEOUT = (
    "upstream had no timeout: the join, and everything else the user sent, waited for the answer"
)
UPSTREAM_TRUTHY = (
    "upstream admitted it: it let in any 'allowed' but false or a missing one "
    "(a string, a number, even null), whatever the HTTP status"
)


@dataclass(frozen=True)
class Question:
    probe: str
    user: str
    room: str
    nickname: str
    role: str  # named, default, unknown, awkward


def urlencode(text: str) -> str:
    """util.http.urlencode: every byte but letters, digits and . ~ _ - as %xx (lower case)."""
    keep = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.~_-")
    return "".join(chr(b) if b in keep else f"%{b:02x}" for b in text.encode("utf-8"))


def question_url(base: str, question: Question) -> str:
    path = base.split("#", 1)[0]
    separator = "&" if "?" in path else "?"
    return (
        f"{path}{separator}userJID={urlencode(question.user)}"
        f"&mucJID={urlencode(question.room)}&nickname={urlencode(question.nickname)}"
    )


def validate(options: CheckOptions) -> None:
    if options.user is not None and (prep_bare(options.user) is None or "@" not in options.user):
        raise UsageError(
            f"--user {options.user!r}: expected a user's bare JID, e.g. romeo@example.com"
        )
    if options.room is not None and (prep_bare(options.room) is None or "@" not in options.room):
        raise UsageError(
            f"--room {options.room!r}: expected a room's bare JID, e.g. teaparty@rooms.example.com"
        )


def questions(options: CheckOptions) -> list[Question]:
    user = prep(options.user) if options.user else DEFAULT_USER
    room = prep(options.room) if options.room else DEFAULT_ROOM
    assert user is not None and room is not None
    domain = user.split("@", 1)[1]
    room_node, room_host = room.split("@", 1)
    nickname = options.nickname or user.split("@", 1)[0]
    return [
        Question(
            f"user {user}" if options.user else "example user",
            user,
            room,
            nickname,
            "named" if options.user else "default",
        ),
        Question(
            "unknown user",
            f"prosody-harness-check-unknown@{domain}",
            room,
            "prosody-harness-check",
            "unknown",
        ),
        Question(
            "non-ASCII user and nickname",
            f"jörg-prosody-harness-check@{domain}",
            room,
            "Jörg 🦊",
            "awkward",
        ),
        Question("reserved characters in the nickname", user, room, "a&b=c?d#e%f+g h/i", "awkward"),
        Question(
            "escaped JID node (XEP-0106)", f"d\\27artagnan@{domain}", room, "d'Artagnan", "awkward"
        ),
        Question("JID without a node (a server)", domain, room, domain, "awkward"),
        Question("non-ASCII room", user, f"café-{room_node}@{room_host}", nickname, "awkward"),
    ]


def calls(options: CheckOptions) -> str:
    return (
        "GET URL?userJID=..&mucJID=..&nickname=.., Accept: application/json"
        + (", Authorization" if "authorization" in _lower(options.headers) else "")
        + '; only 2xx with "allowed": true admits'
    )


def run(client: ServiceClient, options: CheckOptions, report: CheckReport) -> None:
    asked = questions(options)
    if asked[0].role == "default":
        report.add(
            Severity.INFO,
            "muc.no-user",
            f"no --user given: asked about {asked[0].user} joining {asked[0].room}",
            "whether a real member gets in was not checked",
            hint="pass --user and --room of a member who may join",
        )
    first: Exchange | None = None
    for question in asked:
        exchange = client.send(
            question.probe, "GET", question_url(options.url, question), headers=MODULE_HEADERS
        )
        report.exchanges.append(exchange)
        if first is None:
            common.unreachable_first(exchange)
            first = exchange
        _judge(exchange, question, options, report)

    assert first is not None
    lowered = _lower(options.headers)
    if "authorization" in lowered:
        bare = client.send(
            "without Authorization",
            "GET",
            first.url,
            headers=MODULE_HEADERS,
            omit=("Authorization",),
        )
        report.exchanges.append(bare)
        if bare.answered and 200 <= (bare.status or 0) < 300 and _allowed(bare) is True:
            report.add(
                Severity.INFO,
                "muc.authorization-not-required",
                'without the Authorization header the service still answers "allowed": true',
                "anyone who can reach the service can ask it; the module sends the "
                "header anyway (muc_http_auth_authorization_header)",
                probe=bare.probe,
            )
    omitted = common.unsendable_headers(options, SENDABLE)
    if omitted:
        bare = client.send(
            f"{first.probe} without unsendable --header",
            "GET",
            first.url,
            headers=MODULE_HEADERS,
            omit=tuple(omitted),
        )
        report.exchanges.append(bare)
        common.judge_without_headers(bare, first, omitted, options, report, REFUSED)


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _decode(exchange: Exchange) -> Any:
    try:
        return json.loads(exchange.body.decode("utf-8"))
    except ValueError:
        return None


def _allowed(exchange: Exchange) -> Any:
    data = _decode(exchange)
    return data.get("allowed") if isinstance(data, dict) else None


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return f"the {type(value).__name__.replace('str', 'string')} {json.dumps(value)}"


def _judge(
    exchange: Exchange, question: Question, options: CheckOptions, report: CheckReport
) -> None:
    if not common.judge_transport(
        exchange,
        options,
        report,
        "the join is refused ('service unreachable', logged at warn)",
        TIMEOUT_EFFECT,
        UPSTREAM_TIMEOUT,
    ):
        return
    common.judge_timing(exchange, options, report, TIMEOUT_EFFECT, UPSTREAM_TIMEOUT)
    if common.judge_redirect(exchange, report, "the join is refused"):
        return
    status = exchange.status or 0
    data = _decode(exchange)
    # Lua truthiness, as upstream read it: only false and a missing value refuse.
    truthy = isinstance(data, dict) and "allowed" in data and data["allowed"] is not False
    if not 200 <= status < 300:
        _judge_status(exchange, status, question, truthy, report)
        return
    common.judge_encoding(exchange, report, "the answer is not a JSON object: " + REFUSED)
    media = common.media_type(exchange.content_type)
    if media != "application/json" and not (media or "").endswith("+json"):
        report.add(
            Severity.INFO,
            "muc.content-type",
            f"the answer comes as {exchange.content_type or 'no Content-Type'}, "
            "not application/json",
            "the module does not look at Content-Type, so this works",
            probe=exchange.probe,
        )
    if not isinstance(data, dict):
        if data is None and exchange.body.strip() != b"null":
            what = "not JSON"
        else:
            what = "a JSON array" if isinstance(data, list) else f"JSON {_describe(data)}"
        report.add(
            Severity.VIOLATION,
            "muc.not-object",
            f"HTTP {status} with a body that is {what}: {exchange.excerpt(80)!r}",
            "the join is refused ('service answer is not a JSON object', logged at "
            "warn); " + REFUSED,
            probe=exchange.probe,
            upstream="upstream refused it too",
            hint='answer {"allowed": true} or {"allowed": false, "error": "why"}',
        )
        return
    allowed = data.get("allowed", ...)
    if allowed is ...:
        report.add(
            Severity.VIOLATION,
            "muc.allowed-missing",
            f'the answer has no "allowed": {exchange.excerpt(80)!r}',
            "the join is refused ('bad service answer: \"allowed\" is missing', logged at warn)",
            probe=exchange.probe,
            upstream="upstream refused it too",
        )
        return
    if not isinstance(allowed, bool):
        meant = "refuse" if allowed in ("false", "no", "0", 0, None, "") else "admit"
        report.add(
            Severity.VIOLATION,
            "muc.allowed-not-boolean",
            f'"allowed" is {_describe(allowed)}, not the JSON value true or false',
            "refused by our module ('bad service answer', logged at warn)"
            + (", though the service presumably meant to admit" if meant == "admit" else ""),
            probe=exchange.probe,
            upstream=UPSTREAM_TRUTHY,
            hint=f'send "allowed": {"true" if meant == "admit" else "false"} as a JSON boolean',
        )
        return
    error = data.get("error")
    if error is not None and not isinstance(error, str):
        report.add(
            Severity.INFO,
            "muc.error-not-string",
            f'"error" is {_describe(error)}, not a string',
            "the module logs only a string reason; this one is left out",
            probe=exchange.probe,
        )
    if allowed:
        if question.role == "unknown":
            report.add(
                Severity.INFO,
                "muc.unknown-user-admitted",
                f"the service admits {question.user}, a user it cannot know",
                "fine for an open room; for a protected one, check what it looks at",
                probe=exchange.probe,
            )
    elif not (isinstance(error, str) and error):
        report.add(
            Severity.INFO,
            "muc.refused-without-reason",
            '"allowed": false without an "error" text',
            "the log says only 'service refused'; a reason helps the operator",
            probe=exchange.probe,
        )


def _judge_status(
    exchange: Exchange, status: int, question: Question, truthy: bool, report: CheckReport
) -> None:
    summary = f"HTTP {status}" + (f": {exchange.excerpt(80)!r}" if exchange.body else "")
    effect = (
        f"the join is refused as a fault ('service answered HTTP {status}', logged at "
        "warn) and never cached"
    )
    upstream = (
        'upstream ignored the status and admitted on this body\'s "allowed"' if truthy else None
    )
    if truthy or question.role == "named":
        report.add(
            Severity.VIOLATION,
            "muc.status",
            summary + " (only 2xx counts)",
            effect
            + (
                f": {question.user} never gets into {question.room}"
                if question.role == "named"
                else ""
            ),
            probe=exchange.probe,
            upstream=upstream,
            hint='answer 200 with {"allowed": true} to admit',
        )
        return
    severity = (
        Severity.VIOLATION if status >= 500 and question.role == "awkward" else Severity.WARNING
    )
    hint = (
        'to refuse, answer 200 with {"allowed": false, "error": "why"}: refused the '
        "same, logged at info as a decision, and cacheable"
    )
    if status >= 500:
        hint = (
            "read the query as percent-encoded UTF-8, take any JID Prosody may send, and "
            "answer a decision; " + hint
        )
    report.add(
        severity,
        "muc.status",
        summary,
        effect
        + (
            "; a user with such an address can never join" if severity is Severity.VIOLATION else ""
        ),
        probe=exchange.probe,
        hint=hint,
    )
