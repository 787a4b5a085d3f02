"""Turning the `steps:` entries of a scenario file into Step objects, strictly.

A step is a string (`john connects`) or a mapping whose first key is the action and whose
other keys (`expect:`, `timeout:`) qualify it. Everything a step names (clients, backends,
stanzas) is checked here, so a typo fails when the file is loaded, not halfway through a run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness import stanza
from harness.scenario.model import BackendSpec, ClientSpec, Step
from harness.scenario.source import LocatedDocument, Path

HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
LOG_LEVELS = ("debug", "info", "warn", "error")


@dataclass(frozen=True)
class StepRule:
    pattern: str  # regex on the action text; group "actor" names a client or backend
    kind: str
    actor: str  # "client", "backend", "roster", "muc_auth", "rest_callback" or ""
    extra_keys: tuple[str, ...] = ("timeout",)
    value: str = "none"  # what the action's value must be: a key of VALUE_CHECKS
    usage: str = ""


RULES = (
    StepRule(r"(?P<actor>\S+) connects", "connect", "client", (), "none", "C connects"),
    StepRule(r"(?P<actor>\S+) disconnects", "disconnect", "client", (), "none", "C disconnects"),
    StepRule(r"(?P<actor>\S+) sends", "send", "client", (), "stanza", "C sends: XML"),
    StepRule(
        r"(?P<actor>\S+) receives nothing",
        "receive_nothing",
        "client",
        (),
        "nothing",
        "C receives nothing: {within: SECONDS, matching: XML}",
    ),
    StepRule(
        r"(?P<actor>\S+) receives",
        "receive",
        "client",
        ("timeout",),
        "stanzas",
        "C receives: XML (or a list of XML, in any order)",
    ),
    StepRule(
        r"http (?P<method>[A-Za-z]+) (?P<path>\S+)",
        "http",
        "",
        ("expect", "timeout", "poll"),
        "request",
        "http METHOD /path: {json|xml|body, headers, auth, content_type}",
    ),
    StepRule(
        r"(?P<actor>\S+) sets (?P<user>\S+)",
        "backend_set_roster",
        "roster",
        (),
        "mapping",
        "B sets USER: {JID: {name, groups}}",
    ),
    StepRule(
        r"(?P<actor>\S+) befriends",
        "backend_befriend",
        "roster",
        (),
        "pair",
        "B befriends: [USER1, USER2]",
    ),
    StepRule(
        r"(?P<actor>\S+) decides",
        "backend_decide",
        "muc_auth",
        (),
        "mapping",
        "B decides: {room?, user?, domain?, allowed, error?}",
    ),
    StepRule(
        r"(?P<actor>\S+) replies",
        "backend_reply",
        "rest_callback",
        (),
        "mapping",
        "B replies: {match, status?, reply?, content_type?}",
    ),
    StepRule(
        r"(?P<actor>\S+) fault",
        "backend_fault",
        "backend",
        (),
        "fault",
        "B fault: {path?, latency?, status?, body?, drop?, hang?} or 'clear'",
    ),
    StepRule(
        r"(?P<actor>\S+) received",
        "backend_received",
        "backend",
        ("timeout",),
        "mapping",
        "B received: {count?, last?: {method, path, query, headers, json, body}}",
    ),
    StepRule(
        r"(?P<actor>\S+) clears journal",
        "backend_clear_journal",
        "backend",
        (),
        "none",
        "B clears journal",
    ),
    StepRule(
        r"log contains", "log_contains", "", ("timeout",), "mapping", "log contains: {level?, text}"
    ),
    StepRule(r"wait", "wait", "", (), "seconds", "wait: SECONDS"),
)

REQUEST_KEYS = ("json", "xml", "body", "headers", "auth", "content_type")
EXPECT_KEYS = ("status", "headers", "json", "xml", "body")
JOURNAL_KEYS = ("method", "path", "query", "headers", "json", "body")
FAULT_KEYS = ("path", "latency", "status", "body", "drop", "hang", "method", "times")


def usage() -> str:
    return "; ".join(rule.usage for rule in RULES)


class StepParser:
    def __init__(
        self, doc: LocatedDocument, clients: dict[str, ClientSpec], backends: dict[str, BackendSpec]
    ):
        self.doc = doc
        self.clients = clients
        self.backends = backends

    def parse_all(self, entries: Any) -> list[Step]:
        if not isinstance(entries, list) or not entries:
            raise self.doc.error(("steps",), "'steps' must be a non-empty list")
        return [self.parse(entry, ("steps", index)) for index, entry in enumerate(entries)]

    def parse(self, entry: Any, path: Path) -> Step:
        value_path = path
        if isinstance(entry, str):
            action, value, extras = entry.strip(), None, {}
        elif isinstance(entry, dict) and entry:
            action, value = next(iter(entry.items()))
            extras = dict(list(entry.items())[1:])
            if not isinstance(action, str):
                raise self.doc.error(path, f"a step's action must be text, got {action!r}")
            value_path = path + (action,)
            action = action.strip()
        else:
            raise self.doc.error(path, f"a step must be text or a mapping, got {entry!r}")
        line = self.doc.line(path) or 0
        for rule in RULES:
            found = re.fullmatch(rule.pattern, action)
            if found:
                return self._build(rule, found, action, value, extras, path, value_path, line)
        raise self.doc.error(path, f"unknown step {action!r}; steps are: {usage()}")

    def _build(
        self,
        rule: StepRule,
        found: re.Match,
        action: str,
        value: Any,
        extras: dict[str, Any],
        path: Path,
        value_path: Path,
        line: int,
    ) -> Step:
        step = Step(rule.kind, line, _step_text(action, value), found.groupdict().get("actor"))
        self._check_actor(rule, step.actor, path)
        for key in extras:
            if key not in rule.extra_keys:
                allowed = ", ".join(rule.extra_keys) or "none"
                raise self.doc.error(
                    path + (key,), f"unknown key {key!r} for step '{action}' (allowed: {allowed})"
                )
        if "timeout" in extras:
            step.timeout = self._seconds(extras["timeout"], path + ("timeout",))
        VALUE_CHECKS[rule.value](self, step, found, value, extras, value_path)
        return step

    def _check_actor(self, rule: StepRule, actor: str | None, path: Path) -> None:
        if rule.actor == "client":
            if actor not in self.clients:
                known = ", ".join(self.clients) or "none declared"
                raise self.doc.error(path, f"unknown client {actor!r} (clients: {known})")
        elif rule.actor:
            backend = self.backends.get(actor or "")
            if backend is None:
                known = ", ".join(self.backends) or "none declared"
                raise self.doc.error(path, f"unknown backend {actor!r} (backends: {known})")
            if rule.actor != "backend" and backend.kind != rule.actor:
                raise self.doc.error(
                    path,
                    f"backend {actor!r} is a {backend.kind} backend; "
                    f"this step needs a {rule.actor} backend",
                )

    # value checks, one per StepRule.value ------------------------------------------------

    def _none(self, step, found, value, extras, path) -> None:
        if value is not None:
            raise self.doc.error(path, f"step '{step.text}' takes no value")

    def _stanza(self, step, found, value, extras, path) -> None:
        step.params["stanza"] = self._xml(value, path)

    def _stanzas(self, step, found, value, extras, path) -> None:
        items = value if isinstance(value, list) else [value]
        if not items:
            raise self.doc.error(path, "expected at least one stanza")
        step.params["stanzas"] = [self._xml(item, path + (i,)) for i, item in enumerate(items)]

    def _nothing(self, step, found, value, extras, path) -> None:
        spec = value if value is not None else {}
        if not isinstance(spec, dict):
            raise self.doc.error(path, "expected {within: SECONDS, matching: XML} or no value")
        self._only_keys(spec, ("within", "matching"), path)
        step.params["within"] = self._seconds(spec.get("within", 0.5), path + ("within",))
        if spec.get("matching") is not None:
            step.params["matching"] = self._xml(spec["matching"], path + ("matching",))

    def _request(self, step, found, value, extras, path) -> None:
        method = found["method"].upper()
        if method not in HTTP_METHODS:
            raise self.doc.error(
                path, f"unknown HTTP method {method!r} (one of {', '.join(HTTP_METHODS)})"
            )
        if not found["path"].startswith("/"):
            raise self.doc.error(path, f"the HTTP path must start with '/': {found['path']!r}")
        request = dict(value) if value is not None else {}
        if not isinstance(value, (dict, type(None))):
            raise self.doc.error(path, "expected a mapping {json|xml|body, headers, auth, ...}")
        expect_path = path[:-1] + ("expect",)
        if "expect" in request:  # indented under the request: take it, it is unambiguous
            if "expect" in extras:
                raise self.doc.error(path + ("expect",), "expect is given twice")
            extras = {**extras, "expect": request.pop("expect")}
            expect_path = path + ("expect",)
        self._only_keys(request, REQUEST_KEYS, path)
        if sum(key in request for key in ("json", "xml", "body")) > 1:
            raise self.doc.error(path, "give at most one of json, xml, body")
        auth = request.get("auth")
        if auth is not None and not (isinstance(auth, list) and len(auth) == 2):
            raise self.doc.error(path + ("auth",), "auth must be [user, password]")
        if "xml" in request:
            self._xml(request["xml"], path + ("xml",), client_ns=False)
        expect = extras.get("expect") or {}
        if not isinstance(expect, dict):
            raise self.doc.error(
                expect_path, "expect must be a mapping {status, headers, json, ...}"
            )
        self._only_keys(expect, EXPECT_KEYS, expect_path)
        if "xml" in expect:
            self._xml(expect["xml"], expect_path + ("xml",), client_ns=False)
        step.params.update(method=method, path=found["path"], request=request, expect=expect)
        if "poll" in extras:  # repeat the request until `expect` holds, within this bound
            step.params["poll"] = self._seconds(extras["poll"], path[:-1] + ("poll",))

    def _mapping(self, step, found, value, extras, path) -> None:
        if not isinstance(value, dict):
            raise self.doc.error(path, f"step '{step.text}' needs a mapping value")
        if step.kind == "backend_received":
            self._only_keys(value, ("count", "last", "any"), path)
            for key in ("last", "any"):
                if key in value:
                    if not isinstance(value[key], dict):
                        raise self.doc.error(path + (key,), f"{key} must be a mapping")
                    self._only_keys(value[key], JOURNAL_KEYS, path + (key,))
        if step.kind == "log_contains":
            self._only_keys(value, ("level", "text"), path)
            if "text" not in value:
                raise self.doc.error(path, "log contains needs text")
            if value.get("level", "error") not in LOG_LEVELS:
                raise self.doc.error(path, f"level must be one of {', '.join(LOG_LEVELS)}")
        if step.kind == "backend_reply" and "match" not in value:
            raise self.doc.error(path, "replies needs match: {...}")
        if step.kind == "backend_decide" and "allowed" not in value:
            raise self.doc.error(path, "decides needs allowed: true|false")
        if step.kind == "backend_set_roster":
            step.params["user"] = found["user"]
        step.params["value"] = value

    def _pair(self, step, found, value, extras, path) -> None:
        if not (
            isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)
        ):
            raise self.doc.error(path, "befriends needs [USER1, USER2]")
        step.params["users"] = value

    def _fault(self, step, found, value, extras, path) -> None:
        if value == "clear":
            step.params["clear"] = True
            return
        if not isinstance(value, dict):
            raise self.doc.error(
                path, "fault needs {path?, latency?, status?, body?, drop?, hang?} or 'clear'"
            )
        self._only_keys(value, FAULT_KEYS, path)
        step.params["value"] = value

    def _wait(self, step, found, value, extras, path) -> None:
        step.params["seconds"] = self._seconds(value, path)

    # helpers ----------------------------------------------------------------------------

    def _only_keys(self, mapping: dict, allowed: tuple[str, ...], path: Path) -> None:
        for key in mapping:
            if key not in allowed:
                raise self.doc.error(
                    path + (key,), f"unknown key {key!r} (allowed: {', '.join(allowed)})"
                )

    def _seconds(self, value: Any, path: Path) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise self.doc.error(path, f"expected a number of seconds, got {value!r}")
        if value > 600:
            raise self.doc.error(path, f"{value} s is over the 600 s bound of a single wait")
        return float(value)

    def _xml(self, value: Any, path: Path, client_ns: bool = True) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.doc.error(path, f"expected an XML stanza, got {value!r}")
        try:
            # Placeholders may sit in attribute values; they parse fine as text.
            if client_ns:
                stanza.parse(value)
            else:
                import xml.etree.ElementTree as ET

                ET.fromstring(value.strip())
        except (ValueError, SyntaxError) as exc:
            raise self.doc.error(path, f"invalid XML: {exc}") from None
        return value


VALUE_CHECKS: dict[str, Callable[..., None]] = {
    "none": StepParser._none,
    "stanza": StepParser._stanza,
    "stanzas": StepParser._stanzas,
    "nothing": StepParser._nothing,
    "request": StepParser._request,
    "mapping": StepParser._mapping,
    "pair": StepParser._pair,
    "fault": StepParser._fault,
    "seconds": StepParser._wait,
}


def _step_text(action: str, value: Any) -> str:
    if value is None:
        return action
    shown = " ".join(str(value).split())
    return f"{action}: {shown[:70]}{'...' if len(shown) > 70 else ''}"
