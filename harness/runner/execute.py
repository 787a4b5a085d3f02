"""Playing one scenario's steps against a started target and its mock backends."""

from __future__ import annotations

import base64
import json
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from harness import matching, stanza
from harness.runner.backends import backend_variables, start_backends, stop_backends
from harness.runner.isolation import Namespace
from harness.runner.results import ERROR, FAILED, SKIPPED, ScenarioResult
from harness.scenario import Scenario, Step
from harness.scenario.placeholders import PlaceholderError, resolve
from harness.target import Client, LogLine, ReceiveTimeout, Target, TargetError, Unsupported

RECEIVE_TIMEOUT = 2.0
HTTP_TIMEOUT = 10.0
POLL_TIMEOUT = 2.0  # `B received`, `log contains`
POLL_INTERVAL = 0.02
LOG_TAIL = 25
REFRESH_PATH = "/roster_admin/refresh"


class StepFailed(Exception):
    def __init__(self, message: str, diff: str = ""):
        super().__init__(message)
        self.message = message
        self.diff = diff


@dataclass
class ServerContext:
    """What a scenario runs on: a started target plus the ports of its backends."""

    target: Target
    backend_ports: dict[str, int]
    backend_host: str = "127.0.0.1"  # where the backends listen (target.backend_host)
    suffix: str = ""  # account-name suffix on a shared server; "" on a private one
    # Log lines written while the server started (module load errors, say): every
    # scenario on the server sees them, as if it had started the server itself.
    boot_lines: int = 0


@dataclass
class ScenarioRun:
    scenario: Scenario
    server: ServerContext
    namespace: Namespace = field(init=False)
    variables: dict[str, str] = field(default_factory=dict)
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
        try:
            self.log_start = len(self.target.log())
            self._set_up()
            for current in scenario.steps:
                self._run_step(current)
            current = None
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
            self._tear_down()
            result.duration = time.monotonic() - started
        return result

    def _fail(
        self, result: ScenarioResult, status: str, step: Step | None, message: str, diff: str = ""
    ) -> None:
        result.status = status
        result.step = step.text if step else ""
        result.step_line = step.line if step else None
        result.message = self.namespace.undo(message)
        result.diff = self.namespace.undo(diff)
        if status != SKIPPED:
            lines = self._log_since_start()[-LOG_TAIL:]
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
            config = self.value(spec.config)
            if spec.kind == "roster":
                config.setdefault("refresh_url", target.http_url + REFRESH_PATH)
            specs.append((spec, config))
        self.backends = start_backends(specs, self.server.backend_ports, self.server.backend_host)
        accounts = {
            **self.scenario.users,
            **{c.jid: c.password for c in self.scenario.clients.values()},
        }
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

    def _log_since_start(self) -> list[LogLine]:
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
            for line in self._log_since_start()
            if line.is_error and not any(a in line.message for a in self.scenario.allow_log)
        ]
        if unexpected:
            shown = "\n".join(f"  {line.raw or _render(line)}" for line in unexpected[:10])
            raise StepFailed(
                f"the Prosody log has {len(unexpected)} unexpected error line(s) "
                f"(declare expected ones with allow_log):\n{shown}"
            )

    # -- steps -----------------------------------------------------------------------------

    def value(self, value: Any) -> Any:
        """A scenario value as this run sees it: accounts renamed, placeholders filled."""
        return resolve(self.namespace.apply(value), self.variables)

    def _run_step(self, step: Step) -> None:
        STEP_HANDLERS[step.kind](self, step)

    def _client(self, step: Step) -> Client:
        client = self.clients.get(step.actor or "")
        if client is None:
            raise StepFailed(f"{step.actor} is not connected (add '{step.actor} connects' first)")
        return client

    def _connect(self, step: Step) -> None:
        spec = self.scenario.clients[step.actor or ""]
        if step.actor in self.clients:
            raise StepFailed(f"{step.actor} is already connected")
        client = self.target.connect(self.namespace.apply(spec.jid), spec.password, spec.resource)
        self.clients[spec.name] = client
        self.variables[f"{spec.name}.full_jid"] = client.jid
        self.variables[f"{spec.name}.resource"] = client.jid.partition("/")[2]

    def _disconnect(self, step: Step) -> None:
        self._client(step).disconnect()
        del self.clients[step.actor or ""]

    def _send(self, step: Step) -> None:
        self._client(step).send(self._stanza(step.params["stanza"]))

    def _stanza(self, xml: str) -> ET.Element:
        text = self.value(xml)
        try:
            return stanza.parse(text)
        except (ValueError, SyntaxError) as exc:
            raise StepFailed(f"the stanza is not valid XML once filled in: {exc}\n{text}") from None

    def _receive(self, step: Step) -> None:
        client = self._client(step)
        remaining = [self._stanza(xml) for xml in step.params["stanzas"]]
        timeout = step.timeout if step.timeout is not None else RECEIVE_TIMEOUT
        deadline = time.monotonic() + timeout
        while remaining:
            try:
                got = client.receive(
                    lambda s: any(matching.stanza_matches(p, s) for p in remaining),
                    timeout=max(0.0, deadline - time.monotonic()),
                )
            except ReceiveTimeout:
                raise self._receive_failure(step, client, remaining, timeout) from None
            remaining.remove(next(p for p in remaining if matching.stanza_matches(p, got)))

    def _receive_failure(
        self, step: Step, client: Client, remaining: list[ET.Element], timeout: float
    ) -> StepFailed:
        wanted = remaining[0]
        others = client.pending()
        missing = (
            f"{len(remaining)} expected stanzas" if len(remaining) > 1 else "the expected stanza"
        )
        if not others:
            return StepFailed(
                f"{step.actor} received nothing matching {missing} within "
                f"{timeout:g} s (nothing else arrived either)",
                "\n".join(f"- {line}" for line in matching.pretty(wanted)),
            )
        near = matching.closest(wanted, others)
        assert near is not None
        reason = matching.stanza_mismatch(wanted, near)
        return StepFailed(
            f"{step.actor} received nothing matching {missing} within {timeout:g} s; "
            f"{len(others)} other stanza(s) arrived, the closest differs: {reason}",
            matching.stanza_diff(wanted, near),
        )

    def _receive_nothing(self, step: Step) -> None:
        client = self._client(step)
        pattern = self._stanza(step.params["matching"]) if "matching" in step.params else None
        within = step.params["within"]
        try:
            got = client.receive(
                lambda s: pattern is None or matching.stanza_matches(pattern, s), timeout=within
            )
        except ReceiveTimeout:
            return
        what = "a stanza matching the pattern" if pattern is not None else "a stanza"
        raise StepFailed(
            f"{step.actor} received {what} within {within:g} s, expected none",
            "\n".join(f"+ {line}" for line in matching.pretty(got)),
        )

    def _http(self, step: Step) -> None:
        params = self.value(step.params)
        request, expect = params["request"], params["expect"]
        headers = {str(k): str(v) for k, v in (request.get("headers") or {}).items()}
        body: bytes | None = None
        if "json" in request:
            body = json.dumps(request["json"]).encode()
            headers.setdefault("Content-Type", "application/json")
        elif "xml" in request:
            body = request["xml"].encode()
            headers.setdefault("Content-Type", "application/xml")
        elif "body" in request:
            body = str(request["body"]).encode()
        if request.get("content_type"):
            headers["Content-Type"] = request["content_type"]
        if request.get("auth"):
            user = str(request["auth"][0])
            # A password is a secret, not a name: never renamed (accounts keep theirs too).
            password = str(resolve(step.params["request"]["auth"][1], self.variables))
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        timeout = step.timeout if step.timeout is not None else HTTP_TIMEOUT

        def mismatch() -> StepFailed | None:
            response = self.target.http(params["method"], params["path"], headers, body, timeout)
            try:
                check_response(response.status, response.headers, response.body, expect)
            except StepFailed as failure:
                return failure
            return None

        if "poll" not in params:
            failure = mismatch()
            if failure is not None:
                raise failure
            return
        self._poll(params["poll"], mismatch)

    def _set_roster(self, step: Step) -> None:
        params = self.value(step.params)
        self.backends[step.actor or ""].set_roster(params["user"], params["value"])

    def _befriend(self, step: Step) -> None:
        first, second = self.value(step.params["users"])
        answer = self.backends[step.actor or ""].befriend(first, second)
        status = (answer or {}).get("status")
        if status is None or not 200 <= status < 300:
            detail = (answer or {}).get("error") or (answer or {}).get("body") or "no answer"
            raise StepFailed(f"Prosody's refresh answered {status}: {detail}")

    def _decide(self, step: Step) -> None:
        self.backends[step.actor or ""].add_rule(**self.value(step.params["value"]))

    def _reply(self, step: Step) -> None:
        self.backends[step.actor or ""].add_reply_rule(**self.value(step.params["value"]))

    def _fault(self, step: Step) -> None:
        backend = self.backends[step.actor or ""]
        if step.params.get("clear"):
            backend.clear_faults()
        else:
            backend.add_fault(**self.value(step.params["value"]))

    def _clear_journal(self, step: Step) -> None:
        self.backends[step.actor or ""].clear_journal()

    def _received(self, step: Step) -> None:
        backend = self.backends[step.actor or ""]
        expected = self.value(step.params["value"])
        self._poll(_poll_bound(step), lambda: journal_mismatch(expected, backend.journal()))

    def _log_contains(self, step: Step) -> None:
        wanted = self.value(step.params["value"])
        level, text = wanted.get("level"), str(wanted["text"])

        def mismatch() -> StepFailed | None:
            lines = self._log_since_start()
            if any(
                text in line.message and (level is None or line.level == level) for line in lines
            ):
                return None
            at = f" at level {level}" if level else ""
            return StepFailed(
                f"no log line{at} contains {text!r} ({len(lines)} lines since the "
                "scenario started; see the log below)"
            )

        self._poll(_poll_bound(step), mismatch)

    def _poll(self, bound: float, mismatch: Callable[[], StepFailed | None]) -> None:
        """Retry `mismatch` until it is None; fail with its last answer after `bound` s."""
        deadline = time.monotonic() + bound
        while True:
            failure = mismatch()
            if failure is None:
                return
            if time.monotonic() >= deadline:
                raise failure
            time.sleep(POLL_INTERVAL)

    def _wait(self, step: Step) -> None:
        self.target.wait(step.params["seconds"])


STEP_HANDLERS: dict[str, Callable[[ScenarioRun, Step], None]] = {
    "connect": ScenarioRun._connect,
    "disconnect": ScenarioRun._disconnect,
    "send": ScenarioRun._send,
    "receive": ScenarioRun._receive,
    "receive_nothing": ScenarioRun._receive_nothing,
    "http": ScenarioRun._http,
    "backend_set_roster": ScenarioRun._set_roster,
    "backend_befriend": ScenarioRun._befriend,
    "backend_decide": ScenarioRun._decide,
    "backend_reply": ScenarioRun._reply,
    "backend_fault": ScenarioRun._fault,
    "backend_received": ScenarioRun._received,
    "backend_clear_journal": ScenarioRun._clear_journal,
    "log_contains": ScenarioRun._log_contains,
    "wait": ScenarioRun._wait,
}


def check_response(
    status: int, headers: dict[str, str], body: bytes, expect: dict[str, Any]
) -> None:
    """Raise StepFailed when an HTTP answer does not meet `expect`."""
    text = body.decode("utf-8", "replace")
    shown = text if len(text) <= 500 else text[:500] + "..."
    if "status" in expect and status != expect["status"]:
        raise StepFailed(f"HTTP status {status}, expected {expect['status']}; body: {shown}")
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, wanted in (expect.get("headers") or {}).items():
        got = lowered.get(str(name).lower())
        if got is None or (str(wanted) not in matching.WILDCARDS and got != str(wanted)):
            raise StepFailed(f"HTTP header {name}: {got!r}, expected {wanted!r}")
    if "json" in expect:
        try:
            document = json.loads(body)
        except ValueError:
            raise StepFailed(f"the body is not JSON: {shown}") from None
        reason = matching.json_mismatch(expect["json"], document)
        if reason:
            raise StepFailed(
                f"JSON body differs: {reason}", matching.json_diff(expect["json"], document)
            )
    if "xml" in expect:
        pattern = ET.fromstring(expect["xml"].strip())
        try:
            document = ET.fromstring(body)
        except ET.ParseError as exc:
            raise StepFailed(f"the body is not XML ({exc}): {shown}") from None
        reason = matching.stanza_mismatch(pattern, document)
        if reason:
            raise StepFailed(
                f"XML body differs: {reason}",
                matching.stanza_diff(pattern, document, parent_ns=""),
            )
    if "body" in expect and text.strip() != str(expect["body"]).strip():
        raise StepFailed(
            "HTTP body differs",
            matching.text_diff(str(expect["body"]).strip().splitlines(), text.strip().splitlines()),
        )


def journal_mismatch(expected: dict[str, Any], journal: list[dict[str, Any]]) -> StepFailed | None:
    """Why a backend's journal does not meet a `B received:` expectation, or None."""
    if "count" in expected and len(journal) != expected["count"]:
        paths = ", ".join(f"{e.get('method')} {e.get('path')}" for e in journal[-5:]) or "nothing"
        return StepFailed(
            f"received {len(journal)} request(s), expected {expected['count']} (last: {paths})"
        )
    if "last" in expected:
        if not journal:
            return StepFailed("received no request at all")
        reason = entry_mismatch(expected["last"], journal[-1])
        if reason:
            return StepFailed(
                f"the last request differs: {reason}",
                matching.json_diff(expected["last"], comparable(journal[-1])),
            )
    if "any" in expected:
        entries = [comparable(e) for e in journal]
        if not any(entry_mismatch(expected["any"], e) is None for e in entries):
            near = entries[-1] if entries else {}
            return StepFailed(
                f"none of the {len(entries)} request(s) matches",
                matching.json_diff(expected["any"], near),
            )
    return None


def comparable(entry: dict[str, Any]) -> dict[str, Any]:
    """A journal entry with single-valued query parameters as plain strings."""
    query = {
        k: v[0] if isinstance(v, list) and len(v) == 1 else v
        for k, v in (entry.get("query") or {}).items()
    }
    return {
        **entry,
        "query": query,
        "headers": {str(k).lower(): v for k, v in (entry.get("headers") or {}).items()},
    }


def entry_mismatch(expected: dict[str, Any], entry: dict[str, Any]) -> str | None:
    entry = comparable(entry)
    want = dict(expected)
    if "method" in want:
        want["method"] = str(want["method"]).upper()
    if "headers" in want:
        want["headers"] = {str(k).lower(): v for k, v in want["headers"].items()}
    if "body" in want and str(entry.get("body", "")).strip() != str(want.pop("body")).strip():
        return f"body is {entry.get('body')!r}, expected {expected['body']!r}"
    return matching.json_mismatch(want, entry)


def _poll_bound(step: Step) -> float:
    return step.timeout if step.timeout is not None else POLL_TIMEOUT


def _render(line: LogLine) -> str:
    return f"{line.source}\t{line.level}\t{line.message}"
