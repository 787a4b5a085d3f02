"""Fault injection: make the protocol routes slow, wrong, silent or unreachable."""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from mock_backends.first_match import FirstMatchList, path_matches
from mock_backends.validation import (
    check_keys,
    expect_bool,
    expect_mapping,
    expect_seconds,
    expect_status,
)

FAULT_KEYS = (
    "path",
    "method",
    "latency",
    "status",
    "body",
    "drop",
    "hang",
    "times",
    "reset",
    "size",
    "redirect",
)

#: A hang never outlives this, so a forgotten fault cannot keep a thread forever.
MAX_HANG_SECONDS = 600.0
#: The largest generated answer (`size`); 50 MB is the usual "runaway backend" test.
MAX_SIZE_BYTES = 512 * 1024 * 1024
#: The smallest: `[""]`, the shortest JSON array holding a string.
MIN_SIZE_BYTES = 4
#: The query parameter that counts the hops of a redirect loop.
REDIRECT_HOP_PARAMETER = "mock_redirect_hop"


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
    reset: send the head and the first half of the body of the answer (the normal one, or
    the one status/body/size describe; half the head if it has no body), then reset the
    connection (TCP RST).
    size: answer a body of this many bytes (status 200 unless given): one JSON array
    holding a string of padding, e.g. 52428800 for a 50 MB answer.
    redirect: answer 302 pointing back at the same path (a hop counter in the query
    changes the URL each time), so a client that follows redirects loops forever.
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
    reset: bool = False
    size: int | None = None
    redirect: bool = False

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
        if times is not None and (
            isinstance(times, bool) or not isinstance(times, int) or times < 1
        ):
            raise ValueError(f"{where}.times: expected a positive integer, got {times!r}")
        size = mapping.get("size")
        if size is not None and (
            isinstance(size, bool)
            or not isinstance(size, int)
            or not MIN_SIZE_BYTES <= size <= MAX_SIZE_BYTES
        ):
            raise ValueError(
                f"{where}.size: expected a number of bytes between "
                f"{MIN_SIZE_BYTES} and {MAX_SIZE_BYTES}, got {size!r}"
            )
        fault = cls(
            path=path,
            method=method.upper() if method else None,
            latency=None if latency is None else expect_seconds(latency, f"{where}.latency"),
            status=None if status is None else expect_status(status, f"{where}.status"),
            body=body,
            drop=expect_bool(mapping.get("drop", False), f"{where}.drop"),
            hang=None if hang is None else expect_seconds(hang, f"{where}.hang", MAX_HANG_SECONDS),
            times=times,
            reset=expect_bool(mapping.get("reset", False), f"{where}.reset"),
            size=size,
            redirect=expect_bool(mapping.get("redirect", False), f"{where}.redirect"),
        )
        _check_combination(fault, where)
        return fault

    @property
    def answers_itself(self) -> bool:
        """The fault writes the answer (status, body, size or redirect), not the backend."""
        return (
            self.status is not None
            or self.body is not None
            or self.size is not None
            or self.redirect
        )

    def answer(self, path: str, query: str) -> tuple[int, list[tuple[str, str]], bytes]:
        """The status, headers and body this fault answers with (see answers_itself)."""
        if self.redirect:
            return (
                302,
                [
                    ("Location", redirect_target(path, query)),
                    ("Content-Type", "text/plain; charset=utf-8"),
                ],
                b"",
            )
        status = self.status or 200
        if self.size is not None:
            return status, [("Content-Type", "application/json")], padding_document(self.size)
        payload = (
            self.body
            if self.body is not None
            else json.dumps({"error": f"fault injected by the mock: status {status}"})
        )
        return status, [("Content-Type", "application/json")], payload.encode("utf-8")

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or path_matches(self.path, path)

    def to_dict(self) -> dict[str, Any]:
        return {
            key: value
            for key, value in asdict(self).items()
            if value is not None and value is not False
        }


FaultList = FirstMatchList[Fault]


def _check_combination(fault: Fault, where: str) -> None:
    """Refuse keys that contradict each other."""
    silent = fault.drop or fault.hang is not None
    if fault.drop and fault.hang is not None:
        raise ValueError(f"{where}: drop and hang exclude each other")
    if silent and (fault.status is not None or fault.body is not None or fault.size is not None):
        raise ValueError(f"{where}: a dropped or hung request has no status or body")
    if silent and (fault.reset or fault.redirect):
        raise ValueError(f"{where}: a dropped or hung request is neither reset nor redirected")
    if fault.body is not None and fault.size is not None:
        raise ValueError(f"{where}: give body or size, not both")
    if fault.redirect and (
        fault.status is not None or fault.body is not None or fault.size is not None or fault.reset
    ):
        raise ValueError(f"{where}: a redirect has its own status and no body")
    if not (silent or fault.latency is not None or fault.answers_itself or fault.reset):
        raise ValueError(
            f"{where}: give at least one of latency, status, body, drop, hang, "
            "reset, size, redirect"
        )


@functools.lru_cache(maxsize=2)
def padding_document(size: int) -> bytes:
    """A JSON document of exactly `size` bytes: an array holding one string of padding
    (made once per size: a fault answering 50 MB to every request must not allocate 50 MB
    for each of them)."""
    return b'["' + b"x" * (size - 4) + b'"]'


def redirect_target(path: str, query: str) -> str:
    """The same path and query with the hop counter one higher."""
    parameters = parse_qs(query, keep_blank_values=True)
    try:
        hop = int(parameters.get(REDIRECT_HOP_PARAMETER, ["0"])[0]) + 1
    except ValueError:
        hop = 1
    parameters[REDIRECT_HOP_PARAMETER] = [str(hop)]
    return quote(path) + "?" + urlencode(parameters, doseq=True)
