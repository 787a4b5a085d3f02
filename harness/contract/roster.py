"""Probes of a roster web app, as mod_http_roster_admin fetches rosters: `GET` of
http_roster_url with every `%s` replaced by the percent-encoded username, `Accept:
application/json`; only `200` with a JSON object is a roster. All probes are GETs."""

from __future__ import annotations

import re

from harness.contract import common, roster_shape
from harness.contract.findings import CheckReport, Exchange, Severity
from harness.contract.http_client import ServiceClient
from harness.contract.jid import nodeprep
from harness.contract.options import CheckOptions, UsageError

MODULE_HEADERS = {"Accept": "application/json"}
UNKNOWN_USER = "prosody-harness-check-unknown"
#: Usernames Prosody can have that a web app may stumble on: (probe, username).
AWKWARD_USERS = (
    ("reserved characters", "prosody-harness-check?x=1#y%20z+w"),
    ("non-ASCII username", "prosody-harness-check-jörg-日本"),
    ("longest username", "prosody-harness-check-" + "x" * (1023 - 22)),
)
TIMEOUT_EFFECT = (
    "the fetch fails: the user's roster request gets remote-server-timeout "
    "(wait); a refresh counts the user in 'errors'"
)
UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]")


def url_encode(username: str) -> str:
    """Every byte outside RFC 3986's unreserved characters percent-encoded, as the module does."""
    return "".join(
        chr(b) if UNRESERVED.fullmatch(chr(b)) else f"%{b:02X}" for b in username.encode("utf-8")
    )


def roster_url(template: str, username: str) -> str:
    return template.replace("%s", url_encode(username))


def validate(options: CheckOptions) -> None:
    if "%s" not in options.url:
        raise UsageError(
            "the roster URL needs %s where the username goes, as in "
            "http_roster_url (the module refuses to load without it): "
            "e.g. http://app.internal/contacts/%s"
        )
    if options.user is not None and nodeprep(options.user) is None:
        raise UsageError(f"--user {options.user!r} is not a valid Prosody username")


def calls(options: CheckOptions) -> str:
    return (
        "GET http_roster_url with %s the percent-encoded username, "
        "Accept: application/json; only 200 and a JSON object count"
    )


def run(client: ServiceClient, options: CheckOptions, report: CheckReport) -> None:
    first = True
    probes: list[tuple[str, str, str]] = []
    if options.user is not None:
        prepped = nodeprep(options.user) or options.user
        if prepped != options.user:
            report.add(
                Severity.INFO,
                "roster.username-prepped",
                f"--user {options.user!r} is stored and sent by Prosody as {prepped!r}",
                "the module asks for the stringprepped name; the check does too",
            )
        probes.append((f"user {prepped}", prepped, "named"))
    else:
        report.add(
            Severity.INFO,
            "roster.no-user",
            "no --user given: only users unknown to the app were asked for",
            "the shape of a real roster was not checked",
            hint="pass --user NAME, a user the app has contacts for",
        )
    probes.append(("unknown user", UNKNOWN_USER, "unknown"))
    probes += [(label, name, "awkward") for label, name in AWKWARD_USERS]

    unknown_status: int | None = None
    named: Exchange | None = None
    for label, username, role in probes:
        exchange = client.send(
            label, "GET", roster_url(options.url, username), headers=MODULE_HEADERS
        )
        report.exchanges.append(exchange)
        if first:
            common.unreachable_first(exchange)
            first = False
        judged = _judge(exchange, username, role, unknown_status, options, report)
        entries, contacts = judged if judged is not None else (0, {})
        if role == "named":
            named = exchange
        if role == "unknown":
            unknown_status = exchange.status
        if role == "named" and judged is not None:
            report.add(
                Severity.INFO,
                "roster.contacts",
                f"{username} has {entries} contact(s), {len(contacts)} usable",
                "these are the user's roster, each with subscription 'both'"
                if entries
                else "the user gets an empty roster; is this a user the app knows?",
                probe=label,
            )
        elif role != "named" and contacts:
            report.add(
                Severity.WARNING,
                "roster.unknown-user-has-contacts",
                f"a user the app cannot know got {len(contacts)} contact(s)",
                "that user would see these contacts, and they would see the user's "
                "presence; does the app read the username from the URL?",
                probe=label,
            )

    omitted = common.unsendable_headers(options, tuple(MODULE_HEADERS))
    if omitted and named is not None:
        bare = client.send(
            f"{named.probe} without --header",
            "GET",
            named.url,
            headers=MODULE_HEADERS,
            omit=tuple(omitted),
        )
        report.exchanges.append(bare)
        common.judge_without_headers(
            bare, named, omitted, options, report, roster_shape.FETCH_FAILS
        )


def _judge(
    exchange: Exchange,
    username: str,
    role: str,
    unknown_status: int | None,
    options: CheckOptions,
    report: CheckReport,
) -> tuple[int, dict] | None:
    if not common.judge_transport(
        exchange, options, report, roster_shape.FETCH_FAILS, TIMEOUT_EFFECT
    ):
        return None
    common.judge_timing(exchange, options, report, TIMEOUT_EFFECT)
    if common.judge_redirect(exchange, report, roster_shape.FETCH_FAILS):
        return None
    status = exchange.status or 0
    if status != 200:
        _judge_status(exchange, status, role, unknown_status, report)
        return None
    common.judge_encoding(exchange, report, roster_shape.FETCH_FAILS)
    media = common.media_type(exchange.content_type)
    if media != "application/json" and not (media or "").endswith("+json"):
        report.add(
            Severity.INFO,
            "roster.content-type",
            f"the roster comes as {exchange.content_type or 'no Content-Type'}, "
            "not application/json",
            "the module does not look at Content-Type, so this works",
            probe=exchange.probe,
        )
    return roster_shape.judge(exchange, username, options.domain, report)


def _judge_status(
    exchange: Exchange, status: int, role: str, unknown_status: int | None, report: CheckReport
) -> None:
    summary = f"HTTP {status}: {exchange.excerpt(80)!r}" if exchange.body else f"HTTP {status}"
    upstream = "upstream failed the fetch too, and closed the client's session"
    if role == "named":
        report.add(
            Severity.VIOLATION,
            "roster.status",
            summary + " (only 200 is a roster)",
            roster_shape.FETCH_FAILS,
            probe=exchange.probe,
            upstream=upstream,
        )
    elif role == "unknown":
        severity = Severity.VIOLATION if status >= 500 else Severity.WARNING
        report.add(
            severity,
            "roster.unknown-user-status",
            summary,
            "a user Prosody has and the app does not know gets an error (type wait) "
            "instead of a roster at every login, and every refresh naming them counts "
            "an error",
            probe=exchange.probe,
            hint="answer 200 {} for a user without contacts",
        )
    elif status != unknown_status:
        severity = Severity.VIOLATION if status >= 500 else Severity.WARNING
        before = f"HTTP {unknown_status}" if unknown_status else "no answer"
        report.add(
            severity,
            "roster.awkward-username",
            f"{summary}, where a plain unknown user got {before}",
            f"a Prosody user with such a name never gets a roster: {roster_shape.FETCH_FAILS}",
            probe=exchange.probe,
            upstream="upstream put the username into the URL without encoding it",
            hint="decode the path segment (percent-encoded UTF-8) and look the name up "
            "like any other",
        )
