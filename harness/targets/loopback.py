"""What the targets running a real Prosody share (a local process, a container): clients
log in over c2s and requests go over HTTP, both to loopback ports."""

from __future__ import annotations

import requests

from harness.target import Client, HttpResponse, Target, TargetError, check_http_path
from harness.targets.prosody_readiness import fatal_start_error, probe_c2s, probe_http
from harness.xmpp_client import XmppClient


class LoopbackTarget(Target):
    """Subclasses set `c2s_port`, `_clients` (list) and `_http` (requests.Session), and
    say in `_ensure_started` whether the server is up."""

    c2s_port: int
    http_port: int
    _clients: list[XmppClient]
    _http: requests.Session

    # A running server is an identity, not a value (Target's dataclass eq compares fields).
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def _ensure_started(self) -> None:
        raise NotImplementedError

    @property
    def first_host(self) -> str:
        """The first virtual host (its name opens the readiness probe's stream)."""
        raise NotImplementedError

    def _fail(self, reason: str) -> None:
        raise NotImplementedError

    def _listeners_answer(self, want_http: bool) -> bool:
        """c2s opens a stream and HTTP answers; once they do, startup is over and every
        module has logged how its loading went, so a fatal error there fails the start."""
        if not probe_c2s(self.c2s_port, self.first_host):
            return False
        if want_http and not probe_http(self.http_port):
            return False
        fatal = fatal_start_error(self.log())
        if fatal:
            self._fail(f"prosody reported: {fatal}")
        return True

    def connect(self, jid: str, password: str, resource: str | None = None) -> Client:
        self._ensure_started()
        client = XmppClient.connect(jid, password, "127.0.0.1", self.c2s_port, resource)
        self._clients = [c for c in self._clients if c.connected]
        self._clients.append(client)
        return client

    def http(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 10.0,
    ) -> HttpResponse:
        self._ensure_started()
        return http_request(self._http, self.http_url, method, path, headers, body, timeout)

    def _disconnect_clients(self) -> None:
        for client in self._clients:
            client.disconnect(timeout=0.5)
        self._clients.clear()


def http_request(
    session: requests.Session,
    base_url: str,
    method: str,
    path: str,
    headers: dict[str, str] | None,
    body: bytes | None,
    timeout: float,
) -> HttpResponse:
    """One request to a Prosody HTTP server; network trouble becomes a TargetError."""
    check_http_path(path)
    try:
        response = session.request(
            method,
            base_url + path,
            headers=headers,
            data=body,
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.Timeout:
        raise TargetError(f"{method} {path}: no answer within {timeout:g} s") from None
    except requests.RequestException as exc:
        raise TargetError(f"{method} {path}: {exc}") from None
    return HttpResponse(
        status=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items()},
        body=response.content,
    )
