"""What a folder of scenarios shares, and one behaviour over several inputs.

`defaults.yaml` beside scenario files gives what they all share (the profile, backends,
clients, tags, ...), the way Prosody's spec/scansion/prosody.cfg.lua serves its whole
suite. A scenario's own values are merged over it: mappings key by key (a client or a
backend named in both is merged too), other values replaced, tags added together; a
scenario value of null removes the default. A profile written with `hosts:` replaces one
written in the one-host shorthand (and the other way round): the two do not mix.

A `prosody.cfg.lua` beside scenario files is the same in Prosody's own language (as
Prosody's spec/scansion/ has one for its scripts): every scenario of the folder runs
against that config, merged only with the settings the harness owns (harness.lua_config).
Its profile is the config file itself (`prosody: {config_file: PATH}`), so a scenario of
such a folder adds no `prosody:` section of its own, and it gets a server of its own with
its names as written (the config is code: the harness cannot tell which names it uses,
so it cannot rename them for a shared server).

`cases:` in a scenario makes one scenario per case: each case is a mapping whose values
fill `${case.KEY}` anywhere in the file (a value that is only the placeholder takes the
case's value as it is, number or mapping; inside text it is written in), and each is
reported on its own, as NAME [ID] (`id:` in the case, else its number).
"""

from __future__ import annotations

import copy
import functools
import re
import stat
from collections.abc import Callable
from pathlib import Path as FilePath
from typing import Any

from harness.lua_config import CONFIG_NAME, find_lua_config
from harness.scenario.source import LocatedDocument, Path, ScenarioError, read_yaml

DEFAULTS_FILE = "defaults.yaml"
# What a folder's defaults may set: everything but what makes a scenario itself.
NOT_DEFAULTS = ("name", "description", "steps", "cases")
CASE = re.compile(r"\$\{case\.([A-Za-z0-9_-]+)\}")


def defaults_for(
    file: str, check: Callable[[LocatedDocument], object] = lambda doc: None
) -> LocatedDocument | None:
    """The defaults.yaml of the folder holding `file`, read and checked (by `check` too,
    once per version of the file), if there is one (a copy: each scenario of the folder
    merges it under its own document)."""
    path = FilePath(file).with_name(DEFAULTS_FILE)
    try:
        status = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(status.st_mode):
        return None
    return copy.deepcopy(_read_defaults(str(path), status.st_mtime_ns, status.st_size, check))


@functools.lru_cache(maxsize=64)
def _read_defaults(
    path: str, _mtime_ns: int, _size: int, check: Callable[[LocatedDocument], object]
) -> LocatedDocument:
    """Read once per folder and version of the file, not once per scenario in it."""
    try:
        text = FilePath(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(path, None, f"cannot read: {exc}") from None
    doc = read_yaml(path, text)
    if not isinstance(doc.data, dict):
        raise doc.error((), "defaults.yaml is a mapping (prosody:, backends:, clients:, ...)")
    for key in NOT_DEFAULTS:
        if key in doc.data:
            raise doc.error((key,), f"{key}: belongs in each scenario, not in {DEFAULTS_FILE}")
    check(doc)
    return doc


def merged(defaults: LocatedDocument, doc: LocatedDocument) -> LocatedDocument:
    """The scenario's document with its folder's defaults under it. Lines stay the
    scenario file's (a value only the defaults give is located at its nearest parent)."""
    data = _merge(defaults.data, doc.data, ())
    return LocatedDocument(doc.file, data, dict(doc.lines))


def with_lua_config(doc: LocatedDocument) -> LocatedDocument:
    """The scenario's document with its folder's prosody.cfg.lua as its profile, when
    the folder has one (the document itself otherwise)."""
    config = find_lua_config(FilePath(doc.file).parent)
    if config is None or not isinstance(doc.data, dict):
        return doc
    if doc.data.get("prosody"):
        raise doc.error(
            ("prosody",),
            f"this folder's {CONFIG_NAME} is the profile of its "
            "scenarios; a scenario here cannot add a prosody: section",
        )
    data = {**doc.data, "prosody": {"config_file": config}, "shared_server": False}
    return LocatedDocument(doc.file, data, dict(doc.lines))


SINGLE_HOST_KEYS = ("modules_enabled", "modules_disabled", "options")


def _merge(base: Any, over: Any, path: Path) -> Any:
    if path == ("tags",) and isinstance(base, list) and isinstance(over, list):
        return [*base, *(tag for tag in over if tag not in base)]
    if path == ("prosody",) and _two_forms(base, over):
        return copy.deepcopy(over)  # hosts: and the one-host shorthand do not mix
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return copy.deepcopy(over)
    result = copy.deepcopy(base)
    for key, value in over.items():
        if value is None:
            result.pop(key, None)
        elif key in result:
            result[key] = _merge(result[key], value, path + (key,))
        else:
            result[key] = copy.deepcopy(value)
    return result


def _two_forms(base: Any, over: Any) -> bool:
    """One profile lists hosts:, the other uses the shorthand for the one host."""
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return False
    for one, other in ((base, over), (over, base)):
        if "hosts" in one and any(key in other for key in SINGLE_HOST_KEYS):
            return True
    return False


def expand_cases(doc: LocatedDocument) -> list[LocatedDocument]:
    """One document per case (the document itself when it has no cases)."""
    cases = doc.data.get("cases")
    if cases is None:
        return [doc]
    if not isinstance(cases, list) or not cases:
        raise doc.error(("cases",), "cases: is a non-empty list of mappings")
    template = {key: value for key, value in doc.data.items() if key != "cases"}
    seen: set[str] = set()
    documents = []
    for index, case in enumerate(cases, 1):
        where = ("cases", index - 1)
        if not isinstance(case, dict) or not case:
            raise doc.error(where, "each case is a mapping of the values it fills in")
        ident = str(case.get("id", index))
        if ident in seen:
            raise doc.error(where, f"two cases have the id {ident!r}")
        seen.add(ident)
        data = _fill(template, case, doc, where)
        data["name"] = f"{data['name']} [{ident}]"
        documents.append(LocatedDocument(doc.file, data, dict(doc.lines)))
    return documents


def _fill(value: Any, case: dict[str, Any], doc: LocatedDocument, where: Path) -> Any:
    if isinstance(value, dict):
        return {_fill(k, case, doc, where): _fill(v, case, doc, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(item, case, doc, where) for item in value]
    if not isinstance(value, str):
        return value

    def lookup(found: re.Match) -> Any:
        if found[1] not in case:
            raise doc.error(
                where,
                f"${{case.{found[1]}}} is used, but this case has no "
                f"{found[1]!r} (it has: {', '.join(map(str, case))})",
            )
        return case[found[1]]

    whole = CASE.fullmatch(value)
    if whole:
        return lookup(whole)
    return CASE.sub(lambda found: str(lookup(found)), value)
