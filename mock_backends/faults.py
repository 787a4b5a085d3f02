"""Fault injection: make the protocol routes slow, wrong, silent or unreachable."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mock_backends.first_match import FirstMatchList, path_matches
from mock_backends.validation import (
    check_keys,
    expect_bool,
    expect_mapping,
    expect_seconds,
    expect_status,
)

FAULT_KEYS = ("path", "method", "latency", "status", "body", "drop", "hang", "times")

#: A hang never outlives this, so a forgotten fault cannot keep a thread forever.
MAX_HANG_SECONDS = 600.0


@dataclass(frozen=True)
class Fault:
    """What to do to a matching request.

    path: exact path or a pattern with `*`; None = every protocol route.
    method: only requests with this method; None = any.
    latency: seconds to wait before answering (then the normal or faulty answer).
    status / body: answer with this status and/or this body instead of the real answer
    (body alone keeps status 200: a malformed or empty body).
    drop: close the connection without any answer.
    hang: hold the request this many seconds (or until the backend stops), then close
    the connection without an answer; set it above the client's timeout.
    times: apply to this many requests, then remove itself; None = until cleared.
    """

    path: str | None = None
    method: str | None = None
    latency: float | None = None
    status: int | None = None
    body: str | None = None
    drop: bool = False
    hang: float | None = None
    times: int | None = None

    @classmethod
    def from_mapping(cls, data: Any, where: str = "fault") -> Fault:
        mapping = expect_mapping(data, where)
        check_keys(mapping, FAULT_KEYS, where)
        path = mapping.get("path")
        if path is not None and (not isinstance(path, str) or not path.startswith("/")):
            raise ValueError(f"{where}.path: expected a path starting with '/', got {path!r}")
        method = mapping.get("method")
        if method is not None and (not isinstance(method, str) or not method.isalpha()):
            raise ValueError(f"{where}.method: expected an HTTP method name, got {method!r}")
        latency = mapping.get("latency")
        status = mapping.get("status")
        body = mapping.get("body")
        hang = mapping.get("hang")
        times = mapping.get("times")
        if body is not None and not isinstance(body, str):
            raise ValueError(f"{where}.body: expected a string, got {type(body).__name__}")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int)
                                  or times < 1):
            raise ValueError(f"{where}.times: expected a positive integer, got {times!r}")
        fault = cls(
            path=path,
            method=method.upper() if method else None,
            latency=None if latency is None else expect_seconds(latency, f"{where}.latency"),
            status=None if status is None else expect_status(status, f"{where}.status"),
            body=body,
            drop=expect_bool(mapping.get("drop", False), f"{where}.drop"),
            hang=None if hang is None else expect_seconds(hang, f"{where}.hang",
                                                          MAX_HANG_SECONDS),
            times=times,
        )
        if fault.drop and fault.hang is not None:
            raise ValueError(f"{where}: drop and hang exclude each other")
        if (fault.drop or fault.hang is not None) and (status is not None or body is not None):
            raise ValueError(f"{where}: a dropped or hung request has no status or body")
        if not (fault.drop or fault.hang is not None or latency is not None
                or status is not None or body is not None):
            raise ValueError(f"{where}: give at least one of latency, status, body, drop, hang")
        return fault

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or path_matches(self.path, path)

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items()
                if value is not None and value is not False}


FaultList = FirstMatchList[Fault]
