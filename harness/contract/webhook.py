"""Probes of a webhook, as mod_rest delivers stanzas to rest_callback_url: `POST` of one
stanza (application/xmpp+xml, or application/json with rest_callback_content_type),
`Accept: application/xmpp+xml, application/json`. Without --allow-writes only an OPTIONS
request is sent (what upstream's module sends at startup): delivering a stanza is a write."""

from __future__ import annotations

from harness.contract import common
from harness.contract.findings import CheckReport, Exchange, Severity
from harness.contract.http_client import ServiceClient
from harness.contract.jid import prep
from harness.contract.options import CheckOptions, UsageError
from harness.contract.webhook_replies import (
    JSON_TYPE,
    XML_ALIASES,
    article,
    clean_text,
    parse_reply,
)
from harness.contract.webhook_stanzas import ACCEPT, XML_TYPE, TestStanza, test_stanzas

STATUS_CONDITIONS = {
    400: ("modify", "bad-request"),
    401: ("auth", "not-authorized"),
    403: ("auth", "forbidden"),
    404: ("cancel", "item-not-found"),
    405: ("cancel", "not-allowed"),
    406: ("modify", "not-acceptable"),
    409: ("cancel", "conflict"),
    501: ("cancel", "feature-not-implemented"),
    503: ("cancel", "service-unavailable"),
    504: ("wait", "remote-server-timeout"),
}
UNAVAILABLE = "the sender gets recipient-unavailable (wait); a warning is logged"
TIMEOUT_EFFECT = "the sender gets remote-server-timeout (wait)"
UPSTREAM_TIMEOUT = "upstream had no timeout: an iq to a hung webhook was never answered"
GOOD, BAD = ("accepted", "replied"), ("error", "failed")


def validate(options: CheckOptions) -> None:
    for flag, value in (("--from", options.sender), ("--to", options.recipient)):
        if value is not None and prep(value) is None:
            raise UsageError(f"{flag} {value!r} is not a valid JID")
    if options.content_type not in ("xml", "json"):
        raise UsageError("--content-type: expected xml or json")


def calls(options: CheckOptions) -> str:
    media = JSON_TYPE if options.content_type == "json" else XML_TYPE
    return (
        f"POST one stanza as {media}, Accept: {ACCEPT}; 202/204 accept, 200 with a "
        "stanza replies, 4xx/5xx become stanza errors"
    )


def run(client: ServiceClient, options: CheckOptions, report: CheckReport) -> None:
    media = JSON_TYPE if options.content_type == "json" else XML_TYPE
    probe = client.send("OPTIONS (read-only)", "OPTIONS", options.url)
    report.exchanges.append(probe)
    common.unreachable_first(probe)
    _judge_options(probe, media, report)
    if not options.allow_writes:
        report.add(
            Severity.INFO,
            "webhook.read-only",
            "no stanza was delivered: delivering test stanzas is a write",
            "the webhook's answers to stanzas were not checked",
            hint=f"run with --allow-writes to POST {len(test_stanzas(options))} test "
            "stanzas (ids starting with prosody-harness-check-)",
        )
        return
    baseline: str | None = None
    first: tuple[Exchange, TestStanza] | None = None
    for stanza in test_stanzas(options):
        body, headers = stanza.request(options.content_type)
        exchange = client.send(stanza.probe, "POST", options.url, headers=headers, body=body)
        report.exchanges.append(exchange)
        outcome = judge(exchange, stanza, options, report)
        if stanza.role == "plain" and stanza.kind == "message":
            baseline, first = outcome, (exchange, stanza)
        elif stanza.role == "awkward" and baseline in GOOD and outcome in BAD:
            report.add(
                Severity.VIOLATION,
                "webhook.awkward-input",
                f"the webhook took the plain chat message ({baseline}) but not this one",
                "senders with such addresses or text get errors instead of answers",
                probe=exchange.probe,
                hint="read the stanza as UTF-8 and take any valid JID",
            )
    omitted = common.unsendable_headers(options, ("Content-Type", "Accept", "Content-Language"))
    if omitted and first is not None:
        exchange, stanza = first
        body, headers = stanza.request(options.content_type)
        bare = client.send(
            f"{stanza.probe} without --header",
            "POST",
            options.url,
            headers=headers,
            body=body,
            omit=tuple(omitted),
        )
        report.exchanges.append(bare)
        common.judge_without_headers(
            bare,
            exchange,
            omitted,
            options,
            report,
            UNAVAILABLE.replace("recipient-unavailable (wait)", "an error"),
        )


def _judge_options(exchange: Exchange, media: str, report: CheckReport) -> None:
    ours = "our mod_rest never sends OPTIONS"
    if not exchange.answered:
        report.add(
            Severity.INFO,
            "webhook.options",
            f"OPTIONS got no answer ({exchange.error})",
            ours + ", so this does not matter",
            probe=exchange.probe,
            upstream="upstream probes with OPTIONS at startup and logs an error when that fails",
        )
        return
    accept = exchange.headers.get("accept")
    if not accept:
        return
    preferred = common.media_type(accept.split(",", 1)[0])
    family = "json" if preferred == JSON_TYPE else "xml" if preferred in XML_ALIASES else None
    ours_family = "json" if media == JSON_TYPE else "xml"
    if family and family != ours_family:
        report.add(
            Severity.INFO,
            "webhook.options-accept",
            f"OPTIONS answers Accept: {accept}",
            f"{ours}: it posts {media}, as rest_callback_content_type says",
            probe=exchange.probe,
            upstream=f"upstream reads this Accept header at startup and may post "
            f"{preferred} instead of what it is configured with",
        )


def _accepted_effect(stanza: TestStanza) -> str:
    if stanza.kind == "iq" and stanza.answerable:
        return "accepted: the iq gets an empty result"
    return "accepted: nothing is sent back"


def judge(
    exchange: Exchange, stanza: TestStanza, options: CheckOptions, report: CheckReport
) -> str:
    """Findings for one delivery; the outcome: accepted, replied, error or failed."""
    failed = UNAVAILABLE if stanza.answerable else "nothing is sent back; a warning is logged"
    if not common.judge_transport(
        exchange,
        options,
        report,
        failed,
        TIMEOUT_EFFECT if stanza.answerable else failed,
        UPSTREAM_TIMEOUT if stanza.kind == "iq" else None,
    ):
        return "failed"
    common.judge_timing(
        exchange, options, report, TIMEOUT_EFFECT, UPSTREAM_TIMEOUT if stanza.kind == "iq" else None
    )
    code = exchange.status or 0
    media = common.media_type(exchange.content_type)
    has_body = bool(exchange.body.strip())
    has_stanza = has_body and (media in XML_ALIASES or media == JSON_TYPE)
    if has_stanza:
        common.judge_encoding(exchange, report, "the reply cannot be read")
        encoding = common.charset(exchange.content_type)
        if encoding not in (None, "utf-8", "utf8", "us-ascii"):
            report.add(
                Severity.WARNING,
                "webhook.charset",
                f"the answer declares charset={encoding}",
                "the module reads every answer as UTF-8",
                probe=exchange.probe,
            )
    if 200 <= code < 300:
        return _judge_success(exchange, stanza, code, media, has_body, has_stanza, report)
    if not stanza.answerable:
        severity = Severity.WARNING if code >= 500 else Severity.INFO
        report.add(
            severity,
            "webhook.status",
            f"HTTP {code} to a stanza of type error",
            "nothing is sent back: errors are never answered"
            + ("; the webhook fails on error stanzas, though" if code >= 500 else ""),
            probe=exchange.probe,
        )
        return "accepted"
    if common.judge_redirect(exchange, report, "the sender gets internal-server-error (cancel)"):
        return "failed"
    if has_stanza and code >= 400:
        reply, _ = parse_reply(exchange.body, media or "", stanza.kind)
        if reply is not None and reply.type == "error":
            report.add(
                Severity.INFO,
                "webhook.error-stanza",
                f"HTTP {code} with an error {reply.kind}",
                "sent back to the sender as it is (readdressed)",
                probe=exchange.probe,
            )
            return "error"
    return _judge_failure(exchange, stanza, code, media, options, report)


def _judge_success(
    exchange: Exchange,
    stanza: TestStanza,
    code: int,
    media: str | None,
    has_body: bool,
    has_stanza: bool,
    report: CheckReport,
) -> str:
    accepted = _accepted_effect(stanza)
    if code in (202, 204) or not has_stanza:
        if has_body:
            why = (
                f"a {code} answer's body is ignored"
                if has_stanza
                else "only application/xmpp+xml and application/json bodies are replies"
            )
            report.add(
                Severity.WARNING,
                "webhook.body-ignored",
                f"HTTP {code} with a {media or 'untyped'} body: {exchange.excerpt(60)!r}",
                f"{why}: {accepted}",
                probe=exchange.probe,
                hint="to reply, answer 200 with the stanza as application/xmpp+xml or "
                "application/json; to accept, answer 202 without a body",
            )
        else:
            report.add(
                Severity.INFO, "webhook.accepted", f"HTTP {code}", accepted, probe=exchange.probe
            )
        return "accepted"
    reply, problem = parse_reply(exchange.body, media or "", stanza.kind)
    if reply is None:
        iq = stanza.kind == "iq" and stanza.answerable
        report.add(
            Severity.VIOLATION,
            "webhook.unusable-reply",
            f"HTTP {code} with a reply the module cannot use: {problem}",
            "the iq gets internal-server-error (cancel)"
            if iq
            else "the reply is dropped with a warning in the log: the sender gets nothing",
            probe=exchange.probe,
            upstream="upstream answered the iq with an empty result, as if it had worked"
            if iq
            else None,
            hint=f"reply with one {stanza.kind} stanza, as XML in no namespace or "
            "jabber:client, or as mod_rest's JSON mapping",
        )
        return "failed"
    if not stanza.answerable:
        report.add(
            Severity.INFO,
            "webhook.reply-ignored",
            f"HTTP {code} with {article(reply.kind)} reply to a stanza of type error",
            "never sent: errors are not answered",
            probe=exchange.probe,
        )
        return "accepted"
    effect = f"sent back from {stanza.recipient} to {stanza.sender}"
    upstream = None
    if stanza.kind == "iq":
        effect += " with the request's id, as type " + (
            "error" if reply.type == "error" else "result"
        )
    elif stanza.kind == "message" and reply.type is None:
        effect += f", taking the original's type ({stanza.type or 'none: normal'})"
        if stanza.type:
            upstream = "upstream sent the untyped reply as it was (type normal)"
    report.add(
        Severity.INFO,
        "webhook.reply",
        f"HTTP {code}: replies with {article(reply.kind)}"
        + (f" of type {reply.type}" if reply.type else ""),
        effect,
        probe=exchange.probe,
        upstream=upstream,
    )
    return "replied"


def _judge_failure(
    exchange: Exchange,
    stanza: TestStanza,
    code: int,
    media: str | None,
    options: CheckOptions,
    report: CheckReport,
) -> str:
    error_type, condition = STATUS_CONDITIONS.get(code, ("cancel", "internal-server-error"))
    text = clean_text(exchange.body) if media in (None, "text/plain") else None
    effect = f"the sender gets {condition} ({error_type})" + (
        f" with the text {text!r}" if text else ""
    )
    upstreams = []
    if text:
        upstreams.append("upstream sent this text to the sender as a chat message")
    if code == 500:
        upstreams.append("upstream made it internal-server-error of type wait")
    elif 400 <= code < 500 and code not in STATUS_CONDITIONS:
        upstreams.append("upstream made it bad-request")
    upstream = "; ".join(upstreams) or None
    summary = f"HTTP {code}" + (f": {exchange.excerpt(60)!r}" if exchange.body else "")
    if code == 415:
        other = "json" if options.content_type == "xml" else "xml"
        accept = exchange.headers.get("accept")
        report.add(
            Severity.VIOLATION,
            "webhook.media-type",
            f"HTTP 415 to {stanza.request(options.content_type)[1]['Content-Type']}"
            + (f" (it accepts {accept})" if accept else ""),
            effect + ": every stanza is refused",
            probe=exchange.probe,
            hint=f'set rest_callback_content_type = "application/{other}" '
            f"(--content-type {other} here) or accept this type",
        )
    elif code >= 500 and code not in (501, 503):
        report.add(
            Severity.VIOLATION,
            "webhook.status",
            summary,
            effect + ": the webhook fails on this stanza",
            probe=exchange.probe,
            upstream=upstream,
        )
    elif stanza.kind == "iq" and code == 501:
        report.add(
            Severity.INFO,
            "webhook.status",
            summary,
            effect + ": the right answer to an iq the webhook does not handle",
            probe=exchange.probe,
        )
    else:
        report.add(
            Severity.WARNING,
            "webhook.status",
            summary,
            effect + ": fine if the webhook means to refuse this stanza",
            probe=exchange.probe,
            upstream=upstream,
        )
    return "error"
