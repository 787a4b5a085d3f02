"""Mock web services for Prosody modules that talk HTTP: the roster web app
(mod_http_roster_admin), the MUC authorization endpoint (mod_muc_http_auth) and the
webhook target / bot (mod_rest). Each runs on a real port with a journal, fault injection
and a control API under /_mock/ (see openapi.yaml)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mock_backends.base import Backend
from mock_backends.muc_auth import MucAuthBackend
from mock_backends.rest_callback import RestCallbackBackend
from mock_backends.roster import RosterBackend

BACKEND_KINDS: dict[str, type[Backend]] = {
    "roster": RosterBackend,
    "muc_auth": MucAuthBackend,
    "rest_callback": RestCallbackBackend,
}


def start_backend(
    kind: str, config: Mapping[str, Any] | None = None, host: str = "127.0.0.1", port: int = 0
) -> Backend:
    """Start a backend of `kind` (roster, muc_auth, rest_callback; `-` works for `_`) with
    the initial state `config`; port 0 picks a free port (see `.url`)."""
    normalized = kind.replace("-", "_") if isinstance(kind, str) else kind
    backend_class = BACKEND_KINDS.get(normalized)
    if backend_class is None:
        raise ValueError(
            f"unknown backend kind {kind!r}; expected one of {', '.join(BACKEND_KINDS)}"
        )
    return backend_class(config, host=host, port=port)


__all__ = [
    "BACKEND_KINDS",
    "Backend",
    "MucAuthBackend",
    "RestCallbackBackend",
    "RosterBackend",
    "start_backend",
]
