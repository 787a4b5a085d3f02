"""pytest fixtures: each test gets its own backend on a free loopback port, stopped after it.
A backend whose own code failed while answering fails the test at teardown (its answer
was a 500 the mock never meant, so nothing the test saw can be trusted).

The prosody-harness pytest plugin loads them for every test; without it, name this module in
`pytest_plugins` of the top-level conftest.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from mock_backends import start_backend
from mock_backends.base import Backend
from mock_backends.muc_auth import MucAuthBackend
from mock_backends.rest_callback import RestCallbackBackend
from mock_backends.roster import RosterBackend

BackendFactory = Callable[..., Backend]


@pytest.fixture
def mock_backend() -> Iterator[BackendFactory]:
    """Factory: `mock_backend("roster", {"rosters": {...}})`; all are stopped after the test."""
    started: list[Backend] = []

    def start(kind: str, config: Mapping[str, Any] | None = None, **kwargs: Any) -> Backend:
        backend = start_backend(kind, config, **kwargs)
        started.append(backend)
        return backend

    yield start
    for backend in started:
        backend.stop()
    for backend in started:
        backend.check_handler_errors()


@pytest.fixture
def roster_backend() -> Iterator[RosterBackend]:
    with RosterBackend() as backend:
        yield backend
    backend.check_handler_errors()


@pytest.fixture
def muc_auth_backend() -> Iterator[MucAuthBackend]:
    with MucAuthBackend() as backend:
        yield backend
    backend.check_handler_errors()


@pytest.fixture
def rest_callback_backend() -> Iterator[RestCallbackBackend]:
    with RestCallbackBackend() as backend:
        yield backend
    backend.check_handler_errors()
