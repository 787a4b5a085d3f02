"""The one interface every target implements: sandbox, local prosody, docker.

Scenarios, the runner and the pytest plugin speak only to these classes, so a scenario
never knows where it runs. A step a target cannot do raises `Unsupported` (reported as a
skip with its reason), never a fake success.

Stanzas cross this boundary as `xml.etree.ElementTree.Element`s whose default namespace is
`jabber:client` (so a message is `{jabber:client}message`); `harness.stanza` parses and
prints them.
"""

from __future__ import annotations

import abc
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from xml.etree.ElementTree import Element

from harness.profile import Profile

T = TypeVar("T")
# The project's own modules: what every target loads unless given --modules.
PROJECT_MODULES = Path(__file__).resolve().parents[1] / "lua_modules"


class TargetError(Exception):
    """A target could not do what was asked (start, connect, ...); the message says why."""


class Unsupported(TargetError):
    """This target cannot do this step at all; the runner reports a skip with the reason."""


class ReceiveTimeout(TargetError):
    """No stanza matching the wanted one arrived within the bound."""


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]  # header names lower-cased
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        import json

        return json.loads(self.body)


LEVELS = ("debug", "info", "warn", "error")
TRACEBACK = re.compile(r"stack traceback:|\.lua:\d+: in ")


@dataclass
class LogLine:
    level: str  # debug | info | warn | error
    source: str  # the log's source column, e.g. "localhost:http_roster_admin"
    message: str
    raw: str = ""

    @property
    def is_error(self) -> bool:
        return self.level == "error" or bool(TRACEBACK.search(self.message))


class Client(abc.ABC):
    """One XMPP client session, driven synchronously."""

    jid: str  # the full JID once connected (user@host/resource)

    @abc.abstractmethod
    def send(self, stanza: Element | str) -> None: ...

    @abc.abstractmethod
    def receive(
        self, match: Callable[[Element], bool] | None = None, timeout: float = 2.0
    ) -> Element:
        """The first stanza (received since the last one returned) that `match` accepts.

        Stanzas that do not match stay queued for later calls. Raises ReceiveTimeout
        listing what did arrive.
        """

    @abc.abstractmethod
    def pending(self) -> list[Element]:
        """Stanzas received and not yet returned by receive(), oldest first."""

    @abc.abstractmethod
    def disconnect(self) -> None: ...


def check_http_path(path: str) -> None:
    """The one rule every target's `http` holds a path to, in the same words."""
    if not path.startswith("/"):
        raise TargetError(f"HTTP path must start with '/': {path!r}")


@dataclass
class Target(abc.ABC):
    """A Prosody (real or emulated) brought up from a Profile."""

    profile: Profile
    modules_dir: str | None = None  # replaces the project's lua_modules/ when given
    name: str = field(default="", init=False)
    version: str = field(default="", init=False)  # the Prosody's, e.g. "0.12.3", once known

    @abc.abstractmethod
    def start(self) -> None:
        """Bring the server up; raise TargetError with the reason and the log's tail."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Shut down; never leaves a process behind. Safe to call twice."""

    @abc.abstractmethod
    def create_user(self, username: str, host: str, password: str) -> None: ...

    @abc.abstractmethod
    def connect(self, jid: str, password: str, resource: str | None = None) -> Client:
        """Log a client in (TargetError on connection or auth failure, never a hang)."""

    @abc.abstractmethod
    def http(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 10.0,
    ) -> HttpResponse:
        """An HTTP request to Prosody's HTTP server; `path` starts with '/'."""

    @property
    @abc.abstractmethod
    def http_url(self) -> str:
        """Base URL of Prosody's HTTP server, without a trailing slash."""

    @abc.abstractmethod
    def log(self) -> list[LogLine]:
        """Every log line so far."""

    @property
    def backend_host(self) -> str:
        """The address mock backends listen on so that this server reaches them; asked
        before start (their URLs go into the config)."""
        return "127.0.0.1"

    def attach_backends(self, backends: Iterable[Any]) -> None:
        """Mock backends of this process that a scenario runs against this target. A
        target with a clock of its own (the sandbox) has their latency and hang faults
        wait on it; a real server's clock is the real one, so nothing changes."""
        del backends  # they keep sleeping in real time

    def wait(self, seconds: float) -> None:
        """Let `seconds` pass on the target's clock (`monotonic`). A real server's clock
        is the real one; the sandbox's is virtual and skips what only timers fill."""
        time.sleep(seconds)

    def monotonic(self) -> float:
        """The target's clock, in seconds: bounds on waiting (a receive's timeout, a
        poll's) are measured on it, so they mean on the sandbox what they mean on a
        real server. Client.receive's timeout is on it too."""
        return time.monotonic()

    def wait_until(
        self, ready: Callable[[], T | None], seconds: float, interval: float = 0.02
    ) -> T | None:
        """`ready()`'s first answer that is not None, asked at least every `interval`
        seconds; None once `seconds` have passed on the target's clock (after a last
        try). The sandbox also asks whenever something happened inside it."""
        deadline = self.monotonic() + seconds
        while True:
            found = ready()
            if found is not None or self.monotonic() >= deadline:
                return found
            self.wait(min(interval, max(deadline - self.monotonic(), 0.0)))

    def error_lines(self) -> list[LogLine]:
        return [line for line in self.log() if line.is_error]

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
