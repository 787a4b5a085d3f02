"""One contract check from start to end: validate the options, judge TLS, run the probes of
the service's kind and return the report (never raising for what the service does)."""

from __future__ import annotations

from urllib.parse import urlsplit

from harness.contract import muc_auth, roster, webhook
from harness.contract.findings import CheckReport, Unreachable
from harness.contract.http_client import ServiceClient, default_verify
from harness.contract.options import MUC_AUTH, ROSTER, WEBHOOK, CheckOptions, UsageError
from harness.contract.tls_check import check_tls

PROBES = {ROSTER: roster, MUC_AUTH: muc_auth, WEBHOOK: webhook}


def validate(options: CheckOptions) -> None:
    """Raise UsageError for options that cannot make a check."""
    parts = urlsplit(options.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"expected an http:// or https:// URL, got {options.url!r}")
    if options.timeout is not None and not options.timeout > 0:
        raise UsageError("--timeout: expected a positive number of seconds")
    if options.ca_file is not None:
        try:
            with open(options.ca_file, "rb"):
                pass
        except OSError as exc:
            raise UsageError(f"--ca-file {options.ca_file}: {exc.strerror}") from exc
    PROBES[options.kind].validate(options)


def run_check(options: CheckOptions) -> CheckReport:
    validate(options)
    report = CheckReport(
        kind=options.kind,
        url=options.url,
        module=options.module,
        timeout=options.effective_timeout,
        timeout_is_default=options.timeout is None,
        calls=PROBES[options.kind].calls(options),
    )
    verify: str | bool = options.ca_file or default_verify()
    try:
        if urlsplit(options.url).scheme == "https":
            if not check_tls(options, report):
                return report
            if options.insecure and "tls.unverified" in report.codes():
                verify = False
        client = ServiceClient(options.effective_timeout, options.headers, verify)
        try:
            PROBES[options.kind].run(client, options, report)
        finally:
            client.close()
    except Unreachable as exc:
        report.unreachable = str(exc)
    return report
