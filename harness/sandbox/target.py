"""SandboxTarget: the Target interface over the in-process sandbox."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from harness.coverage import recorder as coverage
from harness.prosody_install import ProsodyInstallError, resolve_prosody
from harness.sandbox.config import InvalidProfile
from harness.sandbox.sandbox import Sandbox
from harness.target import PROJECT_MODULES, Client, HttpResponse, LogLine, Target, TargetError

T = TypeVar("T")


@dataclass
class SandboxTarget(Target):
    """Prosody's core and the profile's modules in process; see harness/sandbox/README.md.

    It runs the Lua sources of the same Prosody the real targets run (`prosody`: "0.12",
    "13" or a launcher path), so `--target all` compares like with like;
    `prosody_source` names a source folder directly instead."""

    prosody: str | None = None
    prosody_source: str | None = None
    sandbox: Sandbox | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.name = "sandbox"

    def _source_dir(self) -> str | None:
        if self.prosody_source:
            return self.prosody_source
        try:
            return resolve_prosody(self.prosody).source_dir
        except ProsodyInstallError as exc:
            if self.prosody:
                raise TargetError(str(exc)) from None
            return None  # no prosody launcher: the sandbox looks for sources itself

    def start(self) -> None:
        if self.sandbox is not None:
            raise TargetError("the sandbox target is already started")
        sandbox = Sandbox(
            self.profile,
            self.modules_dir,
            self._source_dir(),
            realtime=True,
            **coverage.sandbox_options(self, self.modules_dir or str(PROJECT_MODULES)),
        )
        self.version = sandbox.version
        try:
            sandbox.start()
        except InvalidProfile:
            raise  # "invalid profile: ...", word for word as on every target
        except TargetError as exc:
            tail = "\n".join(line.raw for line in sandbox.log()[-20:])
            raise TargetError(f"the sandbox did not start: {exc}\n{tail}") from exc
        # A module that fails to load is logged at error level, not raised: Prosody
        # keeps running in that case too, and the runner fails the scenario on the log.
        self.sandbox = sandbox

    def stop(self) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()
        coverage.collect_sandbox(self)  # --coverage: the counts it wrote at its stop

    def _running(self) -> Sandbox:
        if self.sandbox is None or self.sandbox.lua is None:
            raise TargetError("the sandbox target is not started")
        return self.sandbox

    def create_user(self, username: str, host: str, password: str) -> None:
        self._running().create_user(username, host, password)

    def connect(self, jid: str, password: str, resource: str | None = None) -> Client:
        return self._running().connect(jid, password, resource)

    def http(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 10.0,
    ) -> HttpResponse:
        return self._running().http(method, path, headers, body, timeout)

    @property
    def http_url(self) -> str:
        return self._running().http_url

    def log(self) -> list[LogLine]:
        return self.sandbox.log() if self.sandbox is not None else []

    def attach_backends(self, backends: Iterable[Any]) -> None:
        """Their latency and hang faults wait on the sandbox's clock (parking.py)."""
        parking = self._running().parking
        for backend in backends:
            backend.wait_with(parking.wait)

    def wait(self, seconds: float) -> None:
        """Let `seconds` pass on the sandbox's clock: at once where only timers can
        change anything, at real pace while a connection (to a mock) is under way."""
        self._running().advance(seconds)

    def monotonic(self) -> float:
        return self._running().now()

    def wait_until(
        self, ready: Callable[[], T | None], seconds: float, interval: float = 0.02
    ) -> T | None:
        """As every target's, on the sandbox's clock, asking `ready()` again whenever
        something happened in the sandbox (and every `interval` real seconds while a
        connection is under way, for what happens outside it)."""
        return self._running().wait_for(ready, seconds, recheck=interval)
