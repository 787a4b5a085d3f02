"""The JSON Schema of mod_rest's JSON mapping of a stanza, read from the module's own
openapi.yaml (components.schemas.Stanza), so the check follows the module as it changes."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

OPENAPI = Path(__file__).resolve().parents[2] / "lua_modules" / "mod_rest" / "openapi.yaml"


@functools.cache
def stanza_validator(path: Path = OPENAPI) -> Draft202012Validator | None:
    """A validator of one JSON stanza; None when the module's openapi.yaml is not at hand."""
    try:
        document: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
        schemas = document["components"]["schemas"]
        schemas["Stanza"]  # noqa: B018 - present, or the KeyError below
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None
    root = {"$ref": "#/components/schemas/Stanza", "components": {"schemas": schemas}}
    return Draft202012Validator(root)


def shape_errors(data: Any) -> list[str]:
    """What the schema finds wrong with a JSON stanza, one line each (first five)."""
    validator = stanza_validator()
    if validator is None:
        return []
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    lines = []
    for error in errors[:5]:
        where = "/".join(str(part) for part in error.absolute_path) or "the stanza"
        lines.append(f"{where}: {error.message}")
    return lines
