"""Loading scenario files (YAML or scansion .scs) into Scenario objects, strictly."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Any

from harness.scenario import folder, placeholders
from harness.scenario.model import BackendSpec, ClientSpec, Scenario
from harness.scenario.scansion import read_scansion
from harness.scenario.source import LocatedDocument, ScenarioError, read_yaml
from harness.scenario.steps import BACKEND_KINDS, StepParser

if TYPE_CHECKING:
    import jsonschema

SCHEMA_FILE = FilePath(__file__).with_name("schema.json")
YAML_SUFFIXES = (".yaml", ".yml")
MAX_FILE_BYTES = 4 * 2**20  # the largest shipped scenario is 2 KB
SCANSION_SUFFIX = ".scs"


@functools.cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


@functools.cache
def defaults_schema() -> dict[str, Any]:
    """The scenario schema for a folder's defaults.yaml: nothing required, and none of
    what makes a scenario itself."""
    shared = dict(schema())
    shared.pop("required", None)
    shared["properties"] = {
        k: v for k, v in shared["properties"].items() if k not in folder.NOT_DEFAULTS
    }
    return shared


def load_scenarios(file: str | os.PathLike) -> list[Scenario]:
    """Read and check one scenario file: its scenario, or one per case of its `cases:`,
    with its folder's defaults.yaml under it; ScenarioError (file:line: why) if invalid."""
    file = str(file)
    text = read_text(file)
    doc = read_scansion(file, text) if file.endswith(SCANSION_SUFFIX) else read_yaml(file, text)
    defaults = folder.defaults_for(file, _check_defaults)
    if defaults is not None:
        if isinstance(doc.data, dict):
            doc = folder.merged(defaults, doc)
    if not isinstance(doc.data, dict):
        raise doc.error((), "a scenario is a mapping with at least name: and steps:")
    doc = folder.with_lua_config(doc)
    return [scenario_from_document(one) for one in folder.expand_cases(doc)]


def read_text(file: str) -> str:
    """The file's text; ScenarioError if it is too big, binary, or cut short."""
    try:
        size = os.path.getsize(file)
        if size > MAX_FILE_BYTES:
            raise ScenarioError(
                file,
                None,
                f"the file is {size / 2**20:.1f} MiB; a scenario "
                f"file is at most {MAX_FILE_BYTES // 2**20} MiB",
            )
        data = FilePath(file).read_bytes()
    except OSError as exc:
        raise ScenarioError(file, None, f"cannot read: {exc}") from None
    if b"\x00" in data:
        offset = data.index(b"\x00")
        raise ScenarioError(
            file,
            data.count(b"\n", 0, offset) + 1,
            f"a binary file, not a scenario (a NUL byte at offset {offset})",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            file,
            data.count(b"\n", 0, exc.start) + 1,
            f"not UTF-8 text (a binary file?): byte 0x{data[exc.start]:02x} at offset {exc.start}",
        ) from None
    if text and not text.endswith(("\n", "\r")):
        raise ScenarioError(
            file,
            text.count("\n") + 1,
            "the last line has no line break: the file looks cut short "
            "(truncated); if it is complete, end it with a line break",
        )
    return text


def load_scenario(file: str | os.PathLike) -> Scenario:
    """The one scenario of a file without cases (see load_scenarios)."""
    scenarios = load_scenarios(file)
    if len(scenarios) != 1:
        raise ScenarioError(str(file), None, f"holds {len(scenarios)} cases; use load_scenarios")
    return scenarios[0]


def looks_like_scenario(file: str | os.PathLike) -> bool:
    """A .scs file, or a YAML file whose top level has `name:` or `steps:` (other YAML
    files living beside scenarios, such as shared snippets, are not scenarios)."""
    file = str(file)
    if file.endswith(SCANSION_SUFFIX):
        return True
    if not file.endswith(YAML_SUFFIXES):
        return False
    try:
        if os.path.getsize(file) > MAX_FILE_BYTES:
            return True  # let loading report it
        text = FilePath(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return True  # let loading report it
    import re

    return bool(re.search(r"^(name|steps)\s*:", text, re.MULTILINE))


def discover(paths: list[str]) -> list[str]:
    """Scenario files named by `paths` (files or folders, searched recursively), sorted."""
    found: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [
                    os.path.join(root, f)
                    for f in sorted(files)
                    if looks_like_scenario(os.path.join(root, f))
                ]
        elif os.path.exists(path):
            found.append(path)
        else:
            raise ScenarioError(path, None, "no such file or folder")
    return found


def scenario_from_document(doc: LocatedDocument) -> Scenario:
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), "a scenario is a mapping with at least name: and steps:")
    schema_step_errors = _validate(doc, schema())
    clients = {
        name: ClientSpec(name, spec["jid"], str(spec["password"]), spec.get("resource"))
        for name, spec in (data.get("clients") or {}).items()
    }
    for name, spec in (data.get("backends") or {}).items():
        if "kind" not in spec:
            raise doc.error(
                ("backends", name),
                f"backend {name!r} needs a kind: (here or in "
                f"{folder.DEFAULTS_FILE}): {', '.join(BACKEND_KINDS)}",
            )
    backends = {
        name: BackendSpec(name, spec["kind"], {k: v for k, v in spec.items() if k != "kind"})
        for name, spec in (data.get("backends") or {}).items()
    }
    for name in clients.keys() & backends.keys():
        raise doc.error(("backends", name), f"{name!r} is both a client and a backend")
    if "prosody" in clients or "prosody" in backends:
        raise doc.error((), "'prosody' is reserved (for ${prosody.http_url}); rename it")
    steps = StepParser(doc, clients, backends).parse_all(data["steps"])
    if schema_step_errors:
        raise _schema_error(doc, schema_step_errors[0])
    scenario = Scenario(
        name=data["name"],
        file=doc.file,
        line=doc.line(("name",)) or 1,
        description=data.get("description", ""),
        tags=list(data.get("tags") or []),
        prosody=data.get("prosody") or {},
        users={jid: str(pw) for jid, pw in (data.get("users") or {}).items()},
        clients=clients,
        backends=backends,
        steps=steps,
        allow_log=list(data.get("allow_log") or []),
        shared_server=data.get("shared_server", True),
        matching=data.get("matching", "harness"),
    )
    if "targets" in data:
        scenario.targets = list(data["targets"])
    if "prosody_versions" in data:
        scenario.prosody_versions = [str(v) for v in data["prosody_versions"]]
        if not data.get("because"):
            raise doc.error(
                ("prosody_versions",),
                "a scenario for some Prosody versions only says why, in because:",
            )
    scenario.because = data.get("because", "")
    _check_config_file(doc, scenario)
    _check_placeholders(doc, scenario)
    return scenario


def _check_config_file(doc: LocatedDocument, scenario: Scenario) -> None:
    """A profile given as a Prosody config file: the file, found beside the scenario; its
    scenario never shares a server (the config's names cannot be renamed)."""
    given = scenario.prosody.get("config_file")
    if given is None:
        return
    path = FilePath(doc.file).parent / str(given)
    if not path.is_file():
        raise doc.error(("prosody", "config_file"), f"no such config file: {path}")
    scenario.prosody = {"config_file": str(path.resolve())}
    scenario.shared_server = False


def _check_defaults(doc: LocatedDocument) -> None:
    _validate(doc, defaults_schema())


def _validate(doc: LocatedDocument, against: dict[str, Any]) -> list[jsonschema.ValidationError]:
    """Raise the first schema error outside `steps:`; return those inside it.

    Step errors are reported by the step parser, which says more than the schema can;
    the schema's own are raised only for what the parser accepted."""
    # Imported here: a run whose files all come from the load cache checks none.
    import jsonschema  # noqa: PLC0415

    validator = jsonschema.Draft202012Validator(against)
    errors = sorted(
        validator.iter_errors(doc.data),
        key=lambda e: (doc.line(tuple(e.absolute_path)) or 0, len(e.absolute_path)),
    )
    outside_steps = [e for e in errors if not list(e.absolute_path)[:1] == ["steps"]]
    if outside_steps:
        raise _schema_error(doc, outside_steps[0])
    return [e for e in errors if e not in outside_steps]


def _schema_error(doc: LocatedDocument, error: jsonschema.ValidationError) -> ScenarioError:
    path = tuple(error.absolute_path)
    where = ".".join(str(p) for p in path) or "top level"
    message = error.message
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties") or {}
        unknown = [key for key in error.instance if key not in known]
        if unknown:
            path += (unknown[0],)
            message = f"unknown key {unknown[0]!r} (allowed: {', '.join(known)})"
    elif error.validator == "pattern" and path and path[0] in ("users", "clients"):
        message = f"{error.instance!r} is not a bare JID (user@host)"
    return ScenarioError(doc.file, doc.line(path), f"{where}: {message}")


def _check_placeholders(doc: LocatedDocument, scenario: Scenario) -> None:
    backends, clients = set(scenario.backends), set(scenario.clients)
    sections: list[tuple[tuple, Any]] = [(("prosody",), scenario.prosody)]
    sections += [(("backends", b.name), b.config) for b in scenario.backends.values()]
    sections += [(("steps", i), step.params) for i, step in enumerate(scenario.steps)]
    for path, value in sections:
        try:
            placeholders.check(value, backends, clients)
        except placeholders.PlaceholderError as exc:
            # Step params are not laid out like the file; their line is the step's.
            line = scenario.steps[path[1]].line if path[0] == "steps" else doc.line(path + exc.path)
            raise ScenarioError(doc.file, line, str(exc)) from None
    for text in placeholders.strings(scenario.prosody):
        for found in placeholders.PLACEHOLDER.finditer(text):
            root, _ = placeholders.parse_name(found[1])
            if root in clients or root == "prosody":
                raise doc.error(
                    ("prosody",),
                    f"${{{found[1]}}}: the profile may only use "
                    "backend placeholders (it is built before Prosody starts)",
                )
