"""What any mock backend can be asked in a scenario: a canned answer, a fault, what it was
sent, forgetting it."""

from __future__ import annotations

from typing import Any

from harness import matching
from harness.scenario.steps.kind import StepFailed, StepKind, StepParse, StepRun, no_value
from mock_backends.answers import ANSWER_KEYS
from mock_backends.faults import FAULT_KEYS

JOURNAL_KEYS = ("method", "path", "query", "headers", "json", "body")
POLL_TIMEOUT = 2.0


def _parse_answers(parse: StepParse, step, match, value, extras, path) -> None:
    if value == "clear":
        step.params["clear"] = True
        return
    spec = parse.mapping(value, path, "answers")
    parse.only_keys(spec, ANSWER_KEYS, path)
    if "body" in spec and "json" in spec:
        raise parse.error(path, "give body or json, not both")
    step.params["value"] = spec


def _answers(run: StepRun, step) -> None:
    backend = run.backends[step.actor]
    if step.params.get("clear"):
        backend.clear_answers()
    else:
        backend.add_answer(**run.value(step.params["value"]))


def _parse_fault(parse: StepParse, step, match, value, extras, path) -> None:
    if value == "clear":
        step.params["clear"] = True
        return
    if not isinstance(value, dict):
        raise parse.error(path, f"fault needs {{{', '.join(FAULT_KEYS)}}} or 'clear'")
    parse.only_keys(value, FAULT_KEYS, path)
    step.params["value"] = value


def _fault(run: StepRun, step) -> None:
    backend = run.backends[step.actor]
    if step.params.get("clear"):
        backend.clear_faults()
    else:
        backend.add_fault(**run.value(step.params["value"]))


def _parse_received(parse: StepParse, step, match, value, extras, path) -> None:
    value = parse.mapping(value, path, "received")
    parse.only_keys(value, ("count", "last", "any"), path)
    for key in ("last", "any"):
        if key in value:
            if not isinstance(value[key], dict):
                raise parse.error(path + (key,), f"{key} must be a mapping")
            parse.only_keys(value[key], JOURNAL_KEYS, path + (key,))
    step.params["value"] = value


def _received(run: StepRun, step) -> None:
    backend = run.backends[step.actor]
    expected = run.value(step.params["value"])
    bound = step.timeout if step.timeout is not None else POLL_TIMEOUT
    run.poll(bound, lambda: journal_mismatch(expected, backend.journal()))


def _clear_journal(run: StepRun, step) -> None:
    run.backends[step.actor].clear_journal()


def journal_mismatch(expected: dict[str, Any], journal: list[dict[str, Any]]) -> StepFailed | None:
    """Why a backend's journal does not meet a `B received:` expectation, or None."""
    if "count" in expected and len(journal) != expected["count"]:
        paths = ", ".join(f"{e.get('method')} {e.get('path')}" for e in journal[-5:]) or "nothing"
        return StepFailed(
            f"received {len(journal)} request(s), expected {expected['count']} (last: {paths})"
        )
    if "last" in expected:
        if not journal:
            return StepFailed("received no request at all")
        reason = entry_mismatch(expected["last"], journal[-1])
        if reason:
            return StepFailed(
                f"the last request differs: {reason}",
                matching.json_diff(expected["last"], comparable(journal[-1])),
            )
    if "any" in expected:
        entries = [comparable(e) for e in journal]
        if not any(entry_mismatch(expected["any"], e) is None for e in entries):
            near = entries[-1] if entries else {}
            return StepFailed(
                f"none of the {len(entries)} request(s) matches",
                matching.json_diff(expected["any"], near),
            )
    return None


def comparable(entry: dict[str, Any]) -> dict[str, Any]:
    """A journal entry with single-valued query parameters as plain strings."""
    query = {
        k: v[0] if isinstance(v, list) and len(v) == 1 else v
        for k, v in (entry.get("query") or {}).items()
    }
    return {
        **entry,
        "query": query,
        "headers": {str(k).lower(): v for k, v in (entry.get("headers") or {}).items()},
    }


def entry_mismatch(expected: dict[str, Any], entry: dict[str, Any]) -> str | None:
    entry = comparable(entry)
    want = dict(expected)
    if "method" in want:
        want["method"] = str(want["method"]).upper()
    if "headers" in want:
        want["headers"] = {str(k).lower(): v for k, v in want["headers"].items()}
    if "body" in want and str(entry.get("body", "")).strip() != str(want.pop("body")).strip():
        return f"body is {entry.get('body')!r}, expected {expected['body']!r}"
    return matching.json_mismatch(want, entry)


BACKEND_STEPS = (
    StepKind(
        "backend_answers",
        r"(?P<actor>\S+) answers",
        "backend",
        f"B answers: {{{', '.join(ANSWER_KEYS)}}} or 'clear'",
        "any backend: answer its protocol requests (those matching path/method, `times` "
        "times or until cleared) with this status and body instead of its own logic",
        _parse_answers,
        _answers,
    ),
    StepKind(
        "backend_fault",
        r"(?P<actor>\S+) fault",
        "backend",
        f"B fault: {{{', '.join(FAULT_KEYS)}}} or 'clear'",
        "any backend: inject a fault (latency, a dropped or hung connection, an error "
        "status); `B fault: clear` removes them",
        _parse_fault,
        _fault,
    ),
    StepKind(
        "backend_received",
        r"(?P<actor>\S+) received",
        "backend",
        "B received: {count, last: {method, path, query, headers, json, body}, any: {...}}",
        "any backend: what it was sent; `any:` = some request matches (polled until true, "
        "bound `timeout:`, default 2 s)",
        _parse_received,
        _received,
        extra_keys=("timeout",),
    ),
    StepKind(
        "backend_clear_journal",
        r"(?P<actor>\S+) clears journal",
        "backend",
        "B clears journal",
        "forget what backend B received",
        no_value,
        _clear_journal,
        bare=True,
    ),
)
