"""Canned answers: what a backend answers in place of its own logic, for a scenario that
needs an exact status, body or content type (an answer that is wrong on purpose, say).
Faults (latency, drop, hang) stay faults; an answer is an ordinary HTTP answer."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from mock_backends.first_match import FirstMatchList, path_matches
from mock_backends.validation import check_keys, expect_mapping, expect_status

ANSWER_KEYS = ("path", "method", "status", "body", "json", "content_type", "headers", "times")


@dataclass(frozen=True)
class Answer:
    """path / method: which requests (None: any protocol route, any method).
    status: the status (default 200). body (text) or json (any JSON value): the body.
    content_type: its Content-Type (default: application/json for json, and for a body
    that parses as JSON; text/plain otherwise). headers: more headers. times: for this
    many requests, then it is gone."""

    path: str | None = None
    method: str | None = None
    status: int = 200
    body: str | None = None
    json: Any = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = None

    @classmethod
    def from_mapping(cls, data: Any, where: str = "answer") -> Answer:
        mapping = expect_mapping(data, where)
        check_keys(mapping, ANSWER_KEYS, where)
        path, method = mapping.get("path"), mapping.get("method")
        if path is not None and (not isinstance(path, str) or not path.startswith("/")):
            raise ValueError(f"{where}.path: expected a path starting with '/', got {path!r}")
        if method is not None and (not isinstance(method, str) or not method.isalpha()):
            raise ValueError(f"{where}.method: expected an HTTP method name, got {method!r}")
        if "body" in mapping and "json" in mapping:
            raise ValueError(f"{where}: give body or json, not both")
        body = mapping.get("body")
        if body is not None and not isinstance(body, str):
            raise ValueError(f"{where}.body: expected a string, got {type(body).__name__}")
        headers = expect_mapping(mapping.get("headers") or {}, f"{where}.headers")
        times = mapping.get("times")
        if times is not None and (
            isinstance(times, bool) or not isinstance(times, int) or times < 1
        ):
            raise ValueError(f"{where}.times: expected a positive integer, got {times!r}")
        content_type = mapping.get("content_type")
        if content_type is not None and not isinstance(content_type, str):
            raise ValueError(f"{where}.content_type: expected a string")
        return cls(
            path=path,
            method=method.upper() if method else None,
            status=expect_status(mapping.get("status", 200), f"{where}.status"),
            body=body,
            json=mapping.get("json"),
            content_type=content_type,
            headers={str(k): str(v) for k, v in headers.items()},
            times=times,
        )

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or path_matches(self.path, path)

    def payload(self) -> tuple[bytes, list[tuple[str, str]]]:
        """The body and the headers to send."""
        if self.body is not None:
            data, default_type = self.body.encode("utf-8"), _sniffed_type(self.body)
        elif self.json is not None:
            data, default_type = json.dumps(self.json).encode("utf-8"), "application/json"
        else:
            data, default_type = b"", "text/plain; charset=utf-8"
        headers = [("Content-Type", self.content_type or default_type)]
        headers += [(k, v) for k, v in self.headers.items() if k.lower() != "content-type"]
        return data, headers

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, {})}


AnswerList = FirstMatchList[Answer]


def _sniffed_type(body: str) -> str:
    try:
        json.loads(body)
    except ValueError:
        return "text/plain; charset=utf-8"
    return "application/json"
