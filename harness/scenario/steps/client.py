"""What XMPP clients do: connect, disconnect, send, receive, and receive nothing."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

from harness import matching
from harness.scenario.steps.kind import StepFailed, StepKind, StepParse, StepRun, no_value
from harness.target import Client, ReceiveTimeout

RECEIVE_TIMEOUT = 2.0
NOTHING_WITHIN = 0.5


def _connect(run: StepRun, step) -> None:
    run.connect(step.actor)


def _disconnect(run: StepRun, step) -> None:
    run.client(step).disconnect()
    del run.clients[step.actor]


def _parse_send(parse: StepParse, step, match, value, extras, path) -> None:
    step.params["stanza"] = parse.xml(value, path)


def _send(run: StepRun, step) -> None:
    run.client(step).send(run.stanza(step.params["stanza"]))


def _parse_receive(parse: StepParse, step, match, value, extras, path) -> None:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise parse.error(path, "expected at least one stanza")
    step.params["stanzas"] = [parse.xml(item, path + (i,)) for i, item in enumerate(items)]


def _receive(run: StepRun, step) -> None:
    client = run.client(step)
    remaining = [run.stanza(xml) for xml in step.params["stanzas"]]
    timeout = step.timeout if step.timeout is not None else RECEIVE_TIMEOUT
    deadline = time.monotonic() + timeout
    while remaining:
        try:
            got = client.receive(
                lambda s: any(matching.stanza_matches(p, s) for p in remaining),
                timeout=max(0.0, deadline - time.monotonic()),
            )
        except ReceiveTimeout:
            raise _receive_failure(step, client, remaining, timeout) from None
        remaining.remove(next(p for p in remaining if matching.stanza_matches(p, got)))


def _receive_failure(
    step, client: Client, remaining: list[ET.Element], timeout: float
) -> StepFailed:
    wanted = remaining[0]
    others = client.pending()
    missing = f"{len(remaining)} expected stanzas" if len(remaining) > 1 else "the expected stanza"
    if not others:
        return StepFailed(
            f"{step.actor} received nothing matching {missing} within "
            f"{timeout:g} s (nothing else arrived either)",
            "\n".join(f"- {line}" for line in matching.pretty(wanted)),
        )
    near = matching.closest(wanted, others)
    assert near is not None
    reason = matching.stanza_mismatch(wanted, near)
    return StepFailed(
        f"{step.actor} received nothing matching {missing} within {timeout:g} s; "
        f"{len(others)} other stanza(s) arrived, the closest differs: {reason}",
        matching.stanza_diff(wanted, near),
    )


def _parse_nothing(parse: StepParse, step, match, value, extras, path) -> None:
    spec = value if value is not None else {}
    if not isinstance(spec, dict):
        raise parse.error(path, "expected {within: SECONDS, matching: XML} or no value")
    parse.only_keys(spec, ("within", "matching"), path)
    step.params["within"] = parse.seconds(spec.get("within", NOTHING_WITHIN), path + ("within",))
    if spec.get("matching") is not None:
        step.params["matching"] = parse.xml(spec["matching"], path + ("matching",))


def _receive_nothing(run: StepRun, step) -> None:
    client = run.client(step)
    pattern = run.stanza(step.params["matching"]) if "matching" in step.params else None
    within = step.params["within"]
    try:
        got = client.receive(
            lambda s: pattern is None or matching.stanza_matches(pattern, s), timeout=within
        )
    except ReceiveTimeout:
        return
    what = "a stanza matching the pattern" if pattern is not None else "a stanza"
    raise StepFailed(
        f"{step.actor} received {what} within {within:g} s, expected none",
        "\n".join(f"+ {line}" for line in matching.pretty(got)),
    )


STANZA = {"type": "string", "minLength": 1}

CLIENT_STEPS = (
    StepKind(
        "connect", r"(?P<actor>\S+) connects", "client", "C connects",
        "client C logs in (its account is created first)",
        no_value, _connect, bare=True,
    ),
    StepKind(
        "disconnect", r"(?P<actor>\S+) disconnects", "client", "C disconnects",
        "client C closes its stream",
        no_value, _disconnect, bare=True,
    ),
    StepKind(
        "send", r"(?P<actor>\S+) sends", "client", "C sends: XML",
        "send one stanza (default namespace jabber:client)",
        _parse_send, _send, value_schema=STANZA,
    ),
    StepKind(
        "receive_nothing", r"(?P<actor>\S+) receives nothing", "client",
        "C receives nothing: {within: SECONDS, matching: XML}",
        "no stanza (matching XML, if given) arrives within the time (default 0.5 s; also "
        "the plain text `C receives nothing`); stanzas that arrived earlier and were never "
        "matched count too",
        _parse_nothing, _receive_nothing, bare=True,
        value_schema={"type": "object", "properties": {"within": {"type": "number"},
                                                        "matching": STANZA}},
    ),
    StepKind(
        "receive", r"(?P<actor>\S+) receives", "client",
        "C receives: XML (or a list of XML, in any order)",
        "the next stanza matching XML arrives (bound: `timeout:`, default 2 s); a list of "
        "XML strings: all of them, in any order",
        _parse_receive, _receive, extra_keys=("timeout",),
        value_schema={"anyOf": [STANZA, {"type": "array", "items": STANZA, "minItems": 1}]},
    ),
)
