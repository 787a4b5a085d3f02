"""The step vocabulary: every step kind, and every backend kind with its own verbs.

Each kind lives with its parser and its handler (client.py, http.py, server.py,
backend.py, and one module per backend kind). The docs table and the JSON Schema's list
of actions are generated from here (reference.py), and a test checks that the committed
copies agree. Adding a module's steps means adding its backend kind's module and listing
it in BACKEND_KINDS.
"""

from __future__ import annotations

import re
from typing import Any

from harness.scenario.model import BackendSpec, ClientSpec, Step
from harness.scenario.source import LocatedDocument, Path
from harness.scenario.steps.backend import BACKEND_STEPS
from harness.scenario.steps.client import CLIENT_STEPS
from harness.scenario.steps.http import HTTP_STEP
from harness.scenario.steps.kind import BackendKind, StepFailed, StepKind, StepParse, StepRun
from harness.scenario.steps.muc_auth import MUC_AUTH
from harness.scenario.steps.rest_callback import REST_CALLBACK
from harness.scenario.steps.roster import ROSTER
from harness.scenario.steps.server import SERVER_STEPS

BACKEND_KINDS: dict[str, BackendKind] = {
    kind.name: kind for kind in (ROSTER, MUC_AUTH, REST_CALLBACK)
}
STEP_KINDS: tuple[StepKind, ...] = (
    *CLIENT_STEPS,
    HTTP_STEP,
    *(verb for kind in BACKEND_KINDS.values() for verb in kind.verbs),
    *BACKEND_STEPS,
    *SERVER_STEPS,
)
BY_NAME: dict[str, StepKind] = {kind.name: kind for kind in STEP_KINDS}


def usage() -> str:
    return "; ".join(kind.usage for kind in STEP_KINDS)


class StepParser:
    """Turns the `steps:` entries of a scenario file into Steps, strictly: everything a
    step names (clients, backends, stanzas) is checked when the file loads."""

    def __init__(
        self, doc: LocatedDocument, clients: dict[str, ClientSpec], backends: dict[str, BackendSpec]
    ):
        self.context = StepParse(doc, clients, backends)

    def parse_all(self, entries: Any) -> list[Step]:
        if not isinstance(entries, list) or not entries:
            raise self.context.error(("steps",), "'steps' must be a non-empty list")
        return [self.parse(entry, ("steps", index)) for index, entry in enumerate(entries)]

    def parse(self, entry: Any, path: Path) -> Step:
        value_path = path
        if isinstance(entry, str):
            action, value, extras = entry.strip(), None, {}
        elif isinstance(entry, dict) and entry:
            action, value = next(iter(entry.items()))
            extras = dict(list(entry.items())[1:])
            if not isinstance(action, str):
                raise self.context.error(path, f"a step's action must be text, got {action!r}")
            value_path = path + (action,)
            action = action.strip()
        else:
            raise self.context.error(path, f"a step must be text or a mapping, got {entry!r}")
        for kind in STEP_KINDS:
            found = kind.action.fullmatch(action)
            if found:
                return self._build(kind, found, action, value, extras, path, value_path)
        raise self.context.error(path, f"unknown step {action!r}; steps are: {usage()}")

    def _build(
        self,
        kind: StepKind,
        found: re.Match,
        action: str,
        value: Any,
        extras: dict[str, Any],
        path: Path,
        value_path: Path,
    ) -> Step:
        context = self.context
        line = context.doc.line(path) or 0
        step = Step(kind.name, line, _step_text(action, value), found.groupdict().get("actor"))
        self._check_actor(kind, step.actor, path)
        for key in extras:
            if key not in kind.extra_keys:
                allowed = ", ".join(kind.extra_keys) or "none"
                raise context.error(
                    path + (key,), f"unknown key {key!r} for step '{action}' (allowed: {allowed})"
                )
        if "timeout" in extras:
            step.timeout = context.seconds(extras["timeout"], path + ("timeout",))
        kind.parse(context, step, found, value, extras, value_path)
        return step

    def _check_actor(self, kind: StepKind, actor: str | None, path: Path) -> None:
        context = self.context
        if kind.actor == "client":
            if actor not in context.clients:
                known = ", ".join(context.clients) or "none declared"
                raise context.error(path, f"unknown client {actor!r} (clients: {known})")
        elif kind.actor:
            backend = context.backends.get(actor or "")
            if backend is None:
                known = ", ".join(context.backends) or "none declared"
                raise context.error(path, f"unknown backend {actor!r} (backends: {known})")
            if kind.actor != "backend" and backend.kind != kind.actor:
                raise context.error(
                    path,
                    f"backend {actor!r} is a {backend.kind} backend; "
                    f"this step needs a {kind.actor} backend",
                )


def _step_text(action: str, value: Any) -> str:
    if value is None:
        return action
    shown = " ".join(str(value).split())
    return f"{action}: {shown[:70]}{'...' if len(shown) > 70 else ''}"


__all__ = [
    "BACKEND_KINDS",
    "BY_NAME",
    "STEP_KINDS",
    "BackendKind",
    "StepFailed",
    "StepKind",
    "StepParser",
    "StepRun",
    "usage",
]
