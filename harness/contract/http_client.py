"""Requests as the modules make them: the exact URL bytes (no re-quoting), no redirects
followed, no proxies from the environment, no compression asked for (Prosody's net.http
neither asks for nor decodes it), and a timeout a little past the module's, so that a slow
answer can be told from none."""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping

import requests
import urllib3
from urllib3.exceptions import NameResolutionError, NewConnectionError

from harness.contract.findings import Exchange

USER_AGENT = "prosody-harness check"
UNREACHABLE_KINDS = ("refused", "dns", "connect-timeout")
#: After this many probes in a row without an answer in time, the rest are not sent.
GIVE_UP_AFTER = 2


def default_verify() -> str | bool:
    """The system's CA bundle, as Prosody's own TLS uses, rather than requests' certifi."""
    paths = ssl.get_default_verify_paths()
    return paths.cafile or paths.openssl_cafile or True


def grace(timeout: float) -> float:
    """How long past the module's timeout the check still waits, to say how late an answer was."""
    return min(2.0, timeout * 0.5)


class ServiceClient:
    """Sends the probes of one check; `verify` follows --ca-file / --insecure."""

    def __init__(self, timeout: float, headers: Mapping[str, str], verify: str | bool) -> None:
        self.timeout = timeout
        self.base_headers = {
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "identity",
            **dict(headers),
        }
        self.secret_names = {name.lower() for name in headers}  # --header: kept out of reports
        self.verify = verify
        self.timeouts_in_a_row = 0
        self.session = requests.Session()
        self.session.trust_env = False  # Prosody uses no proxy from the environment
        self.session.headers.clear()
        if verify is False:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    def close(self) -> None:
        self.session.close()

    def send(
        self,
        probe: str,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
        omit: tuple[str, ...] = (),
    ) -> Exchange:
        sent = {
            name: value
            for name, value in {**self.base_headers, **(headers or {})}.items()
            if name.lower() not in {o.lower() for o in omit}
        }
        data = body.encode("utf-8") if body is not None else None
        prepared = self.session.prepare_request(
            requests.Request(method, url, headers=sent, data=data)
        )
        prepared.url = url  # exactly as the module writes it: no re-quoting
        shown = {
            name: "(--header)" if name.lower() in self.secret_names else value
            for name, value in sent.items()
        }
        exchange = Exchange(
            probe=probe, method=method, url=url, request_headers=shown, request_body=body
        )
        if self.timeouts_in_a_row >= GIVE_UP_AFTER:
            exchange.error_kind = "skipped"
            exchange.error = f"the service did not answer the last {GIVE_UP_AFTER} probes in time"
            return exchange
        started = time.monotonic()
        try:
            response = self.session.send(
                prepared,
                allow_redirects=False,
                verify=self.verify,
                stream=True,
                timeout=(self.timeout, self.timeout + grace(self.timeout)),
            )
            # The bytes as sent: Prosody's net.http decompresses nothing.
            exchange.body = response.raw.read(decode_content=False)
            response.close()
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            exchange.elapsed = time.monotonic() - started
            exchange.error_kind, exchange.error = classify(exc)
            timed_out = exchange.error_kind == "timeout"
            self.timeouts_in_a_row = self.timeouts_in_a_row + 1 if timed_out else 0
            return exchange
        self.timeouts_in_a_row = 0
        exchange.elapsed = time.monotonic() - started
        exchange.status = response.status_code
        exchange.headers = {name.lower(): value for name, value in response.headers.items()}
        return exchange


def classify(exc: Exception) -> tuple[str, str]:
    """The kind of failure and a short description of it."""
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return "timeout", "no answer within the timeout"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return "tls", f"TLS failed: {exc}"
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return "dropped", f"the answer was cut off ({type(exc).__name__})"
    if isinstance(exc, requests.exceptions.SSLError):
        return "tls", f"TLS failed: {_innermost(exc)}"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect-timeout", "no connection within the timeout"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "timeout", "no answer within the timeout"
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = exc.args[0] if exc.args else exc
        reason = getattr(reason, "reason", reason)
        if isinstance(reason, NameResolutionError):
            return "dns", f"the host name does not resolve ({_innermost(exc)})"
        if isinstance(reason, NewConnectionError):
            return "refused", f"connection failed ({_innermost(exc)})"
        if "timed out" in str(exc).lower():
            return "timeout", "no answer within the timeout"
        return "dropped", "the connection was closed without an answer"
    return "other", str(exc)


def _innermost(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("] ", "): "):
        if marker in text:
            text = text.rsplit(marker, 1)[-1]
    return text.strip("()'\" ")[:200]
