"""An OpenAPI 3.0 document as the fuzzers need it: its operations, a sample request for
each, which operation a method and path reach, and the documented answers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

METHODS = ("get", "put", "post", "delete", "patch", "options", "head")


@dataclass
class Operation:
    method: str  # upper case
    template: str  # as in the document, without the base path
    definition: dict[str, Any]
    parameters: list[dict[str, Any]] = field(default_factory=list)
    pattern: re.Pattern[str] | None = None

    @property
    def label(self) -> str:
        return f"{self.method} {self.template}"

    def media_types(self) -> list[str]:
        body = self.definition.get("requestBody") or {}
        return list((body.get("content") or {}).keys())

    def statuses(self) -> set[str]:
        return {str(code) for code in (self.definition.get("responses") or {})}


class OpenApiIndex:
    """The operations of one document, with $refs resolved."""

    def __init__(self, path: str | Path, tags: set[str] | None = None) -> None:
        self.document = yaml.safe_load(Path(path).read_text("utf-8"))
        self.operations: list[Operation] = []
        for template, item in (self.document.get("paths") or {}).items():
            shared = item.get("parameters") or []
            for method in METHODS:
                definition = item.get(method)
                if definition is None:
                    continue
                if tags is not None and not tags & set(definition.get("tags") or []):
                    continue
                parameters = [
                    self.resolve(p) for p in shared + (definition.get("parameters") or [])
                ]
                operation = Operation(
                    method.upper(), template, self.resolve(definition), parameters
                )
                operation.pattern = _template_pattern(template)
                self.operations.append(operation)

    def resolve(self, value: Any, depth: int = 0) -> Any:
        """`value` with every local $ref replaced by what it points at."""
        if depth > 40:
            return {}
        if isinstance(value, dict):
            if "$ref" in value and isinstance(value["$ref"], str):
                target: Any = self.document
                for part in value["$ref"].lstrip("#/").split("/"):
                    target = target[part]
                return self.resolve(target, depth + 1)
            return {key: self.resolve(item, depth + 1) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item, depth + 1) for item in value]
        return value

    def find(self, method: str, path: str) -> Operation | None:
        """The operation a request reaches (path without the base path), if any."""
        for operation in self.operations:
            if operation.method == method and operation.pattern.fullmatch(path):
                return operation
        return None

    def paths_of(self, path: str) -> list[Operation]:
        return [op for op in self.operations if op.pattern.fullmatch(path)]


def _template_pattern(template: str) -> re.Pattern[str]:
    """`/user/{user}` matches one segment per parameter; a parameter named `path` (the
    mocks' catch-all) matches any rest of the path."""
    parts = re.split(r"(\{[^}]+\})", template)
    regex = ""
    for part in parts:
        if part.startswith("{"):
            regex += ".*" if part == "{path}" else "[^/]+"
        else:
            regex += re.escape(part)
    return re.compile(regex)


def sample(schema: dict[str, Any] | None, depth: int = 0) -> Any:
    """A small value valid for `schema` (examples first), for building base requests."""
    schema = schema or {}
    if "example" in schema:
        return schema["example"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("oneOf", "anyOf", "allOf"):
        if schema.get(key):
            return sample(schema[key][0], depth + 1)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 6:
            return {}
        properties = schema.get("properties") or {}
        required = schema.get("required") or list(properties)[:1]
        return {
            name: sample(properties.get(name), depth + 1)
            for name in required
            if not (properties.get(name) or {}).get("readOnly")
        }
    if kind == "array":
        return [] if depth > 6 else [sample(schema.get("items"), depth + 1)]
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if schema.get("pattern") or kind == "string":
        return "john"
    return "john"


def response_schema(operation: Operation, status: int, media_type: str) -> dict | None:
    """The documented schema of a response body, when there is one."""
    responses = operation.definition.get("responses") or {}
    entry = (
        responses.get(str(status))
        or responses.get(f"{str(status)[0]}XX")
        or responses.get("default")
    )
    if not entry:
        return None
    content = entry.get("content") or {}
    return (content.get(media_type) or {}).get("schema")


def documents_status(operation: Operation, status: int) -> bool:
    statuses = operation.statuses()
    return str(status) in statuses or f"{str(status)[0]}XX" in statuses or "default" in statuses


def schema_problem(schema: dict[str, Any], body: bytes) -> str | None:
    """Why a JSON body does not match an OpenAPI 3.0 schema, or None when it does."""
    try:
        value = json.loads(body)
    except ValueError as exc:
        return f"the body is not JSON: {exc}"
    validator = jsonschema.Draft4Validator(_as_json_schema(schema))
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    return None if error is None else f"{error.message} (at {list(error.absolute_path)})"


def _as_json_schema(schema: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` in JSON Schema terms."""
    if isinstance(schema, dict):
        converted = {key: _as_json_schema(value) for key, value in schema.items()}
        if converted.pop("nullable", False) and "type" in converted:
            converted["type"] = [converted["type"], "null"]
        return converted
    if isinstance(schema, list):
        return [_as_json_schema(item) for item in schema]
    return schema
