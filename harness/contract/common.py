"""Judgments every kind of service gets: transport failures, timing against the module's
timeout, redirects, compressed bodies, and headers the module never sends."""

from __future__ import annotations

from harness.contract.findings import CheckReport, Exchange, Severity, Unreachable
from harness.contract.http_client import UNREACHABLE_KINDS
from harness.contract.options import CheckOptions

#: An answer slower than this share of the timeout works, but has little room under load.
SLOW_SHARE = 0.5


def media_type(header: str | None) -> str | None:
    """'application/json; charset=utf-8' -> 'application/json'."""
    if not header:
        return None
    media = header.split(";", 1)[0].strip().lower()
    return media or None


def charset(header: str | None) -> str | None:
    for param in (header or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def timeout_words(options: CheckOptions) -> str:
    seconds = f"{options.effective_timeout:g} s"
    if options.timeout is None:
        return f"{seconds} ({options.timeout_option}'s default)"
    return f"{seconds} (--timeout, as {options.timeout_option})"


def unreachable_first(exchange: Exchange) -> None:
    """The first request of a check could not connect at all: stop with exit status 2."""
    if exchange.error_kind in UNREACHABLE_KINDS:
        raise Unreachable(f"cannot reach {exchange.url}: {exchange.error}")


def judge_transport(
    exchange: Exchange,
    options: CheckOptions,
    report: CheckReport,
    failure_effect: str,
    timeout_effect: str,
    upstream_timeout: str | None = None,
) -> bool:
    """Findings for an exchange that got no answer; True when there was one to judge."""
    if exchange.answered:
        return True
    kind = exchange.error_kind
    if kind == "timeout":
        report.add(
            Severity.VIOLATION,
            "timeout",
            f"no answer within {exchange.elapsed:.1f} s; the module waits {timeout_words(options)}",
            timeout_effect,
            probe=exchange.probe,
            upstream=upstream_timeout,
            hint=f"answer faster, or raise {options.timeout_option} (and --timeout here)",
        )
    elif kind == "dropped":
        report.add(
            Severity.VIOLATION,
            "dropped",
            "the connection was closed without an answer",
            failure_effect,
            probe=exchange.probe,
        )
    elif kind == "skipped":
        report.add(
            Severity.INFO,
            "skipped",
            "not sent: " + (exchange.error or ""),
            "the service's answer to this input is unknown",
            probe=exchange.probe,
        )
    elif kind == "tls":
        report.add(
            Severity.VIOLATION,
            "tls-failed",
            exchange.error or "TLS failed",
            failure_effect,
            probe=exchange.probe,
        )
    else:
        report.add(
            Severity.VIOLATION,
            "no-answer",
            exchange.error or "no answer",
            failure_effect,
            probe=exchange.probe,
        )
    return False


def judge_timing(
    exchange: Exchange,
    options: CheckOptions,
    report: CheckReport,
    timeout_effect: str,
    upstream_timeout: str | None = None,
) -> None:
    timeout = options.effective_timeout
    took = f"answered after {exchange.elapsed:.2f} s"
    if exchange.elapsed > timeout:
        report.add(
            Severity.VIOLATION,
            "timeout",
            f"{took}, past the module's timeout of {timeout_words(options)}",
            timeout_effect,
            probe=exchange.probe,
            upstream=upstream_timeout,
            hint=f"answer faster, or raise {options.timeout_option} (and --timeout here)",
        )
    elif exchange.elapsed > timeout * SLOW_SHARE:
        report.add(
            Severity.WARNING,
            "slow",
            f"{took}, more than half the module's timeout of {timeout_words(options)}",
            f"works now, but a little more load and the module gives up ({timeout_effect})",
            probe=exchange.probe,
        )


def judge_redirect(exchange: Exchange, report: CheckReport, effect: str) -> bool:
    """A 3xx is not followed by any of the modules; True when this was one."""
    if exchange.status is None or not 300 <= exchange.status < 400:
        return False
    location = exchange.headers.get("location")
    report.add(
        Severity.VIOLATION,
        "redirect",
        f"HTTP {exchange.status}" + (f" to {location}" if location else ""),
        "redirects are not followed: " + effect,
        probe=exchange.probe,
        hint="configure the module with the final URL" if location else None,
    )
    return True


def judge_encoding(exchange: Exchange, report: CheckReport, effect: str) -> None:
    encoding = exchange.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        report.add(
            Severity.VIOLATION,
            "content-encoding",
            f"the body is sent with Content-Encoding: {encoding}, though the request "
            "asked for none (Accept-Encoding: identity)",
            "Prosody's net.http does not decompress: the module sees compressed bytes; " + effect,
            probe=exchange.probe,
            hint="do not compress answers unless the request's Accept-Encoding allows it",
        )


def unsendable_headers(options: CheckOptions, sendable: tuple[str, ...]) -> dict[str, str]:
    """The --header values the module has no way to send."""
    allowed = {name.lower() for name in sendable}
    return {name: value for name, value in options.headers.items() if name.lower() not in allowed}


def judge_without_headers(
    exchange: Exchange,
    with_headers: Exchange,
    omitted: dict[str, str],
    options: CheckOptions,
    report: CheckReport,
    effect: str,
) -> None:
    """The same request without the headers the module cannot send."""
    names = ", ".join(omitted)
    report.add(
        Severity.INFO,
        "header-not-sent",
        f"this check sent {names} (--header)",
        f"{options.module} never sends {names}: requests from Prosody come without it",
        probe=with_headers.probe,
    )
    if not exchange.answered:
        return
    if with_headers.answered and exchange.status != with_headers.status:
        report.add(
            Severity.VIOLATION,
            "needs-unsendable-header",
            f"without {names} the service answers HTTP {exchange.status} "
            f"(with it: HTTP {with_headers.status})",
            effect,
            probe=exchange.probe,
            hint="let requests from Prosody's address through without it (keep the "
            "service on a private network), or have a proxy in front add it",
        )
