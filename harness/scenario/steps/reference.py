"""The step reference written from the registry: the table in docs/scenario-format.md and
the JSON Schema's list of actions. `python -m harness.scenario.steps.reference` rewrites
both; tests/runner/test_step_reference.py fails when the committed copies differ."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from harness.scenario.steps import BACKEND_KINDS, STEP_KINDS

REPO = Path(__file__).resolve().parents[3]
DOCS = REPO / "docs" / "scenario-format.md"
SCHEMA = REPO / "harness" / "scenario" / "schema.json"
BEGIN, END = "<!-- steps: generated from harness/scenario/steps -->", "<!-- steps: end -->"
EXTRA_KEYS = ("timeout", "poll", "expect")


def _plain(pattern: str) -> str:
    """A step's action pattern without group names (JSON Schema regexes have none)."""
    return re.sub(r"\(\?P<\w+>", "(", pattern)


def docs_table() -> str:
    rows = ["| step | meaning |", "|---|---|"]
    for kind in STEP_KINDS:
        usage = kind.usage.replace("|", "\\|")
        rows.append(f"| `{usage}` | {kind.meaning} |")
    rows += ["", "| backend kind | plays | its own steps |", "|---|---|---|"]
    for backend in BACKEND_KINDS.values():
        verbs = ", ".join(f"`{verb.usage.split(':')[0]}`" for verb in backend.verbs) or "-"
        rows.append(f"| `{backend.name}` | {backend.plays} | {verbs} |")
    return "\n".join(rows)


def schema_actions() -> tuple[str, str]:
    """(pattern of the steps written as plain text, pattern of a step mapping's keys)."""
    bare = "|".join(_plain(kind.pattern) for kind in STEP_KINDS if kind.bare)
    keyed = "|".join([*EXTRA_KEYS, *(_plain(kind.pattern) for kind in STEP_KINDS)])
    return rf"^\s*({bare})\s*$", f"^({keyed})$"


def rendered_docs(text: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + docs_table() + "\n" + text[end:]


def rendered_schema(schema: dict) -> dict:
    bare, keyed = schema_actions()
    plain, mapping = schema["properties"]["steps"]["items"]["anyOf"]
    plain["pattern"] = bare
    plain["description"] = " | ".join(k.usage for k in STEP_KINDS if k.bare)
    mapping["propertyNames"]["pattern"] = keyed
    backends = schema["properties"]["backends"]["additionalProperties"]["properties"]["kind"]
    backends["enum"] = list(BACKEND_KINDS)
    return schema


def main() -> int:
    DOCS.write_text(rendered_docs(DOCS.read_text()))
    schema = rendered_schema(json.loads(SCHEMA.read_text()))
    SCHEMA.write_text(json.dumps(schema, indent=2) + "\n")
    print(f"wrote {DOCS.relative_to(REPO)} and {SCHEMA.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
