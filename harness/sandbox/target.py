"""SandboxTarget: the Target interface over the in-process sandbox."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.prosody_install import ProsodyInstallError, resolve_prosody
from harness.sandbox.sandbox import Sandbox
from harness.target import Client, HttpResponse, LogLine, Target, TargetError


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
        sandbox = Sandbox(self.profile, self.modules_dir, self._source_dir(), realtime=True)
        self.version = sandbox.version
        try:
            sandbox.start()
        except TargetError as exc:
            tail = "\n".join(line.raw for line in sandbox.log()[-20:])
            raise TargetError(f"the sandbox did not start: {exc}\n{tail}") from exc
        # A module that fails to load is logged at error level, not raised: Prosody
        # keeps running in that case too, and the runner fails the scenario on the log.
        self.sandbox = sandbox

    def stop(self) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()

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

    def wait(self, seconds: float) -> None:
        self._running().advance(seconds)
