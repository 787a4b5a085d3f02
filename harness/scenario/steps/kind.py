"""What a step kind is: how its action is written, how its value is checked when the file
loads, and what it does when it runs. One StepKind per step, in one place.

Parsing gets a StepParse (the document, for file:line errors, and the declared clients
and backends); running gets the ScenarioRun (harness.runner.execute), through the small
surface listed in StepRun.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from harness import stanza
from harness.scenario.model import BackendSpec, ClientSpec, Scenario, Step
from harness.scenario.source import LocatedDocument, Path, ScenarioError

if TYPE_CHECKING:
    from harness.target import Client, Target

MAX_WAIT_SECONDS = 600


class StepFailed(Exception):
    """The step ran and its expectation does not hold; `diff` shows expected vs got."""

    def __init__(self, message: str, diff: str = ""):
        super().__init__(message)
        self.message = message
        self.diff = diff


class StepRun(Protocol):
    """What a running step may use of the scenario run."""

    scenario: Scenario
    target: Target
    backends: dict[str, Any]
    clients: dict[str, Client]
    variables: dict[str, str]
    captures: dict[str, str]  # scansion's {scansion:capture:NAME} values, by NAME

    def value(self, value: Any) -> Any: ...
    def client(self, step: Step) -> Client: ...
    def stanza(self, xml: str) -> ET.Element: ...
    def poll(self, bound: float, mismatch: Callable[[], StepFailed | None]) -> None: ...
    def log_since_start(self) -> list: ...
    def connect(self, name: str) -> None: ...


@dataclass
class StepParse:
    """The file being loaded, for checking one step's value (errors name file:line)."""

    doc: LocatedDocument
    clients: dict[str, ClientSpec]
    backends: dict[str, BackendSpec]

    def error(self, path: Path, message: str) -> ScenarioError:
        return self.doc.error(path, message)

    def only_keys(self, mapping: dict, allowed: tuple[str, ...], path: Path) -> None:
        for key in mapping:
            if key not in allowed:
                raise self.error(
                    path + (key,), f"unknown key {key!r} (allowed: {', '.join(allowed)})"
                )

    def mapping(self, value: Any, path: Path, what: str) -> dict:
        if not isinstance(value, dict):
            raise self.error(path, f"{what} needs a mapping value")
        return value

    def seconds(self, value: Any, path: Path) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise self.error(path, f"expected a number of seconds, got {value!r}")
        if value > MAX_WAIT_SECONDS:
            raise self.error(path, f"{value} s is over the {MAX_WAIT_SECONDS} s bound of a wait")
        return float(value)

    def xml(self, value: Any, path: Path, client_ns: bool = True) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(path, f"expected an XML stanza, got {value!r}")
        try:
            # Placeholders may sit in attribute values; they parse fine as text.
            if client_ns:
                stanza.parse(value)
            else:
                ET.fromstring(value.strip())
        except (ValueError, SyntaxError) as exc:
            raise self.error(path, f"invalid XML: {exc}") from None
        return value


# parse(parse, step, match, value, extras, value_path): fill step.params, or raise.
Parser = Callable[[StepParse, Step, re.Match, Any, dict[str, Any], Path], None]
Runner = Callable[[StepRun, Step], None]


@dataclass(frozen=True)
class StepKind:
    name: str  # Step.kind
    pattern: str  # regex on the action text; group "actor" names a client or backend
    actor: str  # "client", "backend" (any kind), a backend kind, or "" (none)
    usage: str  # how it is written, for errors and the docs table
    meaning: str  # what it does, for the docs table
    parse: Parser
    run: Runner
    extra_keys: tuple[str, ...] = ()  # keys beside the action (timeout:, expect:, ...)
    bare: bool = False  # may be written as plain text, without a value
    value_schema: dict[str, Any] = field(default_factory=dict)  # for the JSON Schema

    @property
    def action(self) -> re.Pattern[str]:
        return re.compile(self.pattern)


@dataclass(frozen=True)
class BackendKind:
    """A mock backend kind as scenarios see it: its own verbs, and the defaults of its
    configuration that depend on the server (filled in when a scenario starts it)."""

    name: str  # as in `backends: {B: {kind: NAME}}`
    plays: str  # what it stands for, for the docs
    verbs: tuple[StepKind, ...] = ()
    defaults: Callable[[StepRun], dict[str, Any]] = lambda run: {}


def no_value(parse: StepParse, step: Step, match, value, extras, path) -> None:
    if value is not None:
        raise parse.error(path, f"step '{step.text}' takes no value")
