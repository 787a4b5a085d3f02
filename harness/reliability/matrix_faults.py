"""The backend faults of the fault matrix, each applied to a mock backend that a module
calls out to (and undone afterwards). The module timeouts in the matrix are
MODULE_TIMEOUT seconds; `hang` and `slow` go past it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mock_backends import Backend, start_backend

MODULE_TIMEOUT = 1.0  # http_roster_timeout, muc_http_auth_timeout, rest_callback_timeout
FIFTY_MB = 50 * 1024 * 1024
LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form "
    "action='/login'><input name='user'></form></body></html>"
)


class FaultableBackend:
    """A mock backend that can also stop listening (connections refused) and come back
    on the same port; `backend` is the one currently serving."""

    def __init__(
        self, kind: str, config: dict[str, Any] | None = None, tls: str | None = None
    ) -> None:
        self.kind = kind
        self.config = dict(config or {}, **({"tls": tls} if tls else {}))
        self.backend: Backend = start_backend(kind, self.config)
        self.port = self.backend.port
        self.url = self.backend.url
        self.listening = True

    def refuse(self) -> None:
        if self.kind == "roster":  # the rosters set meanwhile come back with it
            self.config["rosters"] = self.backend.rosters()
        self.backend.stop()
        self.listening = False

    def restore(self) -> None:
        """Listening again, with no fault and no canned answer left."""
        if not self.listening:
            self.backend = start_backend(self.kind, self.config, port=self.port)
            self.listening = True
        self.backend.clear_faults()
        self.backend.clear_answers()

    def stop(self) -> None:
        self.backend.stop()


@dataclass(frozen=True)
class BackendFault:
    name: str
    title: str  # for the table
    what: str  # what the backend does, for the table
    apply: Callable[[FaultableBackend], None]
    uses_tls_channel: bool = False  # applied by wiring the module to a self-signed backend


def _fault(**spec: Any) -> Callable[[FaultableBackend], None]:
    return lambda faulty: faulty.backend.add_fault(**spec)


def _answer(**spec: Any) -> Callable[[FaultableBackend], None]:
    return lambda faulty: faulty.backend.add_answer(**spec)


def _nothing(faulty: FaultableBackend) -> None:
    """The TLS channel's backend fails every handshake by itself."""


FAULTS = [
    BackendFault(
        "refused", "refused", "nothing listens on the port", lambda faulty: faulty.refuse()
    ),
    BackendFault(
        "reset",
        "reset mid-answer",
        "sends the head and half the body of its answer, then a TCP reset",
        _fault(reset=True),
    ),
    BackendFault("hang", "hang", "accepts the request and never answers (30 s)", _fault(hang=30)),
    BackendFault(
        "slow",
        "slow past the timeout",
        f"answers normally after {MODULE_TIMEOUT + 1.5:g} s "
        f"(the module waits {MODULE_TIMEOUT:g} s)",
        _fault(latency=MODULE_TIMEOUT + 1.5),
    ),
    BackendFault("5xx", "5xx", "answers 503 with a JSON error body", _fault(status=503)),
    BackendFault(
        "content-type",
        "wrong content type",
        "answers 200 with an HTML login page (text/html)",
        _answer(status=200, body=LOGIN_PAGE, content_type="text/html"),
    ),
    BackendFault(
        "invalid-json",
        "invalid JSON",
        "answers 200, application/json, with a JSON document cut short",
        _fault(body='{"allowed": true, "marie@localhost": {"name": "Mar'),
    ),
    BackendFault(
        "50mb",
        "a 50 MB answer",
        "answers 200, application/json, with a 50 MB JSON array",
        _fault(size=FIFTY_MB),
    ),
    BackendFault(
        "tls",
        "TLS failure",
        "serves HTTPS with a self-signed certificate (the module is given an https:// URL to it)",
        _nothing,
        uses_tls_channel=True,
    ),
    BackendFault(
        "redirect",
        "redirect loop",
        "answers 302 pointing back at the same URL, forever",
        _fault(redirect=True),
    ),
]
FAULTS_BY_NAME = {fault.name: fault for fault in FAULTS}
