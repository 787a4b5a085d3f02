"""Playing one scenario's steps against a started target and its mock backends."""

from __future__ import annotations

import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from harness import stanza
from harness.ports import HeldPorts
from harness.runner.backends import backend_variables, start_backends, stop_backends
from harness.runner.isolation import Namespace
from harness.runner.results import ERROR, FAILED, SKIPPED, ScenarioResult
from harness.scenario import Scenario, Step
from harness.scenario.placeholders import PlaceholderError, resolve
from harness.scenario.steps import BACKEND_KINDS, BY_NAME, StepFailed
from harness.target import Client, LogLine, Target, TargetError, Unsupported

POLL_INTERVAL = 0.02
LOG_TAIL = 25


@dataclass
class ServerContext:
    """What a scenario runs on: a started target plus the ports of its backends."""

    target: Target
    held_ports: HeldPorts  # one per backend name, kept while the server lives
    backend_host: str = "127.0.0.1"  # where the backends listen (target.backend_host)
    suffix: str = ""  # account-name suffix on a shared server; "" on a private one
    # Log lines written while the server started (module load errors, say): every
    # scenario on the server sees them, as if it had started the server itself.
    boot_lines: int = 0
    # How long the server took to start, counted once: by the first scenario on it.
    unreported_start: float = 0.0

    @property
    def backend_ports(self) -> dict[str, int]:
        return self.held_ports.ports

    def stop(self) -> None:
        try:
            self.target.stop()
        finally:
            self.held_ports.release()


@dataclass
class ScenarioRun:
    scenario: Scenario
    server: ServerContext
    namespace: Namespace = field(init=False)
    variables: dict[str, str] = field(default_factory=dict)
    captures: dict[str, str] = field(default_factory=dict)  # scansion's captured values
    timings: dict[str, float] = field(default_factory=dict)  # phase -> seconds (--profile)
    clients: dict[str, Client] = field(default_factory=dict)
    backends: dict[str, Any] = field(default_factory=dict)
    log_start: int = 0

    def __post_init__(self) -> None:
        self.namespace = Namespace.for_scenario(self.scenario, self.server.suffix)

    @property
    def target(self) -> Target:
        return self.server.target

    # -- the whole scenario ----------------------------------------------------------------

    def run(self) -> ScenarioResult:
        scenario = self.scenario
        result = ScenarioResult(
            scenario.name,
            scenario.file,
            scenario.line,
            self.target.name,
            tags=list(scenario.tags),
            shared_server=bool(self.server.suffix),
            prosody=self.target.version,
        )
        started = time.monotonic()
        current: Step | None = None
        self.timings = result.timings
        if self.server.unreported_start:
            self.timings["server start"] = self.server.unreported_start
            self.server.unreported_start = 0.0
        try:
            self.log_start = len(self.target.log())
            self._set_up()
            for current in scenario.steps:
                with self._timed(f"step: {current.kind}"):
                    self._run_step(current)
            current = None
            with self._timed("log check"):
                self._check_log()
        except StepFailed as exc:
            self._fail(result, FAILED, current, exc.message, exc.diff)
        except Unsupported as exc:
            self._fail(result, SKIPPED, current, f"{self.target.name} cannot do this: {exc}")
        except (TargetError, PlaceholderError) as exc:
            self._fail(result, FAILED, current, str(exc))
        except Exception as exc:  # a bug in a target or the harness: say where, keep going
            detail = "".join(traceback.format_exception(exc)[-6:])
            self._fail(result, ERROR, current, f"{type(exc).__name__}: {exc}", detail)
        finally:
            broken = self._mock_failures()
            if broken:
                # The mock's own bug decided what Prosody saw: no verdict can stand on it.
                self._fail(result, ERROR, current, broken)
            with self._timed("teardown"):
                self._tear_down()
            result.duration = time.monotonic() - started
        return result

    @contextmanager
    def _timed(self, phase: str):
        """Add the time the block takes to `phase` in the result's timings (--profile)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - started

    def _mock_failures(self) -> str:
        """What the scenario's mock backends failed at while answering, if anything."""
        for name, backend in self.backends.items():
            errors = backend.handler_errors()
            if errors:
                return f"mock backend {name!r} failed while answering a request:\n{errors[0]}"
        return ""

    def _fail(
        self, result: ScenarioResult, status: str, step: Step | None, message: str, diff: str = ""
    ) -> None:
        result.status = status
        result.step = step.text if step else ""
        result.step_line = step.line if step else None
        result.message = self.namespace.undo(message)
        result.diff = self.namespace.undo(diff)
        if status != SKIPPED:
            lines = self.log_since_start()[-LOG_TAIL:]
            result.log_tail = [self.namespace.undo(line.raw or _render(line)) for line in lines]

    def _set_up(self) -> None:
        target = self.target
        http = urlsplit(target.http_url)
        self.variables.update(
            {"prosody.http_url": target.http_url, "prosody.http_port": str(http.port or "")}
        )
        self.variables.update(
            backend_variables(
                self.server.backend_host, self.server.backend_ports, self.scenario.backends
            )
        )
        for client in self.scenario.clients.values():
            self.variables[f"{client.name}.jid"] = self.namespace.apply(client.jid)
        specs = []
        for spec in self.scenario.backends.values():
            config = {**BACKEND_KINDS[spec.kind].defaults(self), **self.value(spec.config)}
            specs.append((spec, config))
        with self._timed("backends"):
            self.backends = start_backends(
                specs, self.server.backend_ports, self.server.backend_host
            )
            target.attach_backends(self.backends.values())
        accounts = {
            **self.scenario.users,
            **{c.jid: c.password for c in self.scenario.clients.values()},
        }
        with self._timed("accounts"):
            for jid, password in accounts.items():
                user, host = self.namespace.apply(jid).split("@", 1)
                target.create_user(user, host, password)

    def _tear_down(self) -> None:
        for client in self.clients.values():
            try:
                client.disconnect()
            except Exception:  # noqa: BLE001 - a broken session must not hide the verdict
                pass
        self.clients.clear()
        stop_backends(self.backends)
        self.backends = {}

    def log_since_start(self) -> list[LogLine]:
        """The server's start-up lines, then the lines written since this scenario began."""
        try:
            lines = self.target.log()
        except TargetError:
            return []
        boot = self.server.boot_lines
        return lines[:boot] + lines[max(boot, self.log_start) :]

    def _check_log(self) -> None:
        unexpected = [
            line
            for line in self.log_since_start()
            if line.is_error and not any(a in line.message for a in self.scenario.allow_log)
        ]
        if unexpected:
            shown = "\n".join(f"  {line.raw or _render(line)}" for line in unexpected[:10])
            raise StepFailed(
                f"the Prosody log has {len(unexpected)} unexpected error line(s) "
                f"(declare expected ones with allow_log):\n{shown}"
            )

    # -- what steps use (harness.scenario.steps.kind.StepRun) ---------------------------

    def value(self, value: Any) -> Any:
        """A scenario value as this run sees it: accounts renamed, placeholders filled."""
        return resolve(self.namespace.apply(value), self.variables)

    def _run_step(self, step: Step) -> None:
        BY_NAME[step.kind].run(self, step)

    def client(self, step: Step) -> Client:
        client = self.clients.get(step.actor or "")
        if client is None:
            raise StepFailed(f"{step.actor} is not connected (add '{step.actor} connects' first)")
        return client

    def connect(self, name: str) -> None:
        spec = self.scenario.clients[name]
        if name in self.clients:
            raise StepFailed(f"{name} is already connected")
        client = self.target.connect(self.namespace.apply(spec.jid), spec.password, spec.resource)
        self.clients[name] = client
        self.variables[f"{name}.full_jid"] = client.jid
        self.variables[f"{name}.resource"] = client.jid.partition("/")[2]

    def stanza(self, xml: str) -> ET.Element:
        text = self.value(xml)
        try:
            return stanza.parse(text)
        except (ValueError, SyntaxError) as exc:
            raise StepFailed(f"the stanza is not valid XML once filled in: {exc}\n{text}") from None

    def poll(self, bound: float, mismatch: Callable[[], StepFailed | None]) -> None:
        """Retry `mismatch` until it is None; fail with its last answer after `bound` s
        on the target's clock (the sandbox's skips what only its timers can fill)."""
        failures: list[StepFailed] = []

        def settled() -> bool | None:
            failure = mismatch()
            if failure is None:
                return True
            failures.append(failure)
            return None

        if self.target.wait_until(settled, bound, POLL_INTERVAL) is None:
            raise failures[-1]


def _render(line: LogLine) -> str:
    return f"{line.source}\t{line.level}\t{line.message}"
