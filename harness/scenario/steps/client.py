"""What XMPP clients do: connect, disconnect, send, receive, and receive nothing.

A client's name may hold spaces and apostrophes (scansion's `Juliet's phone`). In a
scenario with `matching: scansion` (every .scs script) the steps behave as scansion's:
`receives` goes through the stanzas the client got, in the order they came, until one
matches by scansion's rules (harness.matching.scansion_mismatch); those before it are
passed over and dropped. `receives: nothing` fails on any stanza not yet taken. After
`sends` the harness waits until the server has read the stanza (a ping round trip on the
same stream, its answer never shown), so the actions of different clients reach the
server in the script's order. Otherwise `receives` waits for a matching stanza and leaves
the others queued for later steps."""

from __future__ import annotations

import itertools
import time
import xml.etree.ElementTree as ET

from harness import matching
from harness import stanza as stanza_xml
from harness.scenario.steps.kind import StepFailed, StepKind, StepParse, StepRun, no_value
from harness.target import Client, ReceiveTimeout, TargetError

RECEIVE_TIMEOUT = 2.0
SETTLE_TIMEOUT = 2.0
NOTHING_WITHIN = 0.5


def _connect(run: StepRun, step) -> None:
    if run.scenario.prosody.get("config_file") and KEEPER not in run.clients:
        _keep_server(run, run.scenario.clients[step.actor].jid.partition("@")[2])
    run.connect(step.actor)


# A session of the harness's own on a server run from a suite's config file (never one of
# the scenario's clients: no name in a scenario has a leading space).
KEEPER = " keeper"
KEEPER_USER, KEEPER_PASSWORD = "prosody-harness-keeper", "keeper"


def _keep_server(run: StepRun, host: str) -> None:
    """Hold one idle session open while the scenario runs. A suite's test config may load
    mod_debug_reset (Prosody's own does), which resets the server whenever its last
    session closes, to isolate scripts run one after another on one server; each
    scenario has a server of its own here, so the reset would only strike in the middle
    of a scenario whose clients all leave and come back (keep_full_sub_req.scs), and
    what survives it depends on Lua's garbage collector."""
    run.target.create_user(KEEPER_USER, host, KEEPER_PASSWORD)
    run.clients[KEEPER] = run.target.connect(f"{KEEPER_USER}@{host}", KEEPER_PASSWORD, "keeper")


def _disconnect(run: StepRun, step) -> None:
    if _gone(run, step):
        return
    run.client(step).disconnect()
    del run.clients[step.actor]


def _gone(run: StepRun, step) -> bool:
    """In a scansion script, a client that connected and then disconnected: sending on
    it and disconnecting it again do nothing, as in scansion."""
    return (
        run.scenario.matching == "scansion"
        and step.actor not in run.clients
        and f"{step.actor}.full_jid" in run.variables
    )


def _parse_send(parse: StepParse, step, match, value, extras, path) -> None:
    step.params["stanza"] = parse.xml(value, path)


def _send(run: StepRun, step) -> None:
    if _gone(run, step):
        return
    client = run.client(step)
    client.send(run.stanza(step.params["stanza"]))
    if run.scenario.matching == "scansion":
        _settle(run, client)


def _parse_receive(parse: StepParse, step, match, value, extras, path) -> None:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise parse.error(path, "expected at least one stanza")
    step.params["stanzas"] = [parse.xml(item, path + (i,)) for i, item in enumerate(items)]


def _receive(run: StepRun, step) -> None:
    if run.scenario.matching == "scansion":
        _receive_scansion(run, step)
        return
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


def _receive_scansion(run: StepRun, step) -> None:
    """scansion's receives: the stanzas the client got, oldest first, until each expected
    one has matched (several: in any order); the others before them are passed over."""
    client = run.client(step)
    remaining = [run.stanza(xml) for xml in step.params["stanzas"]]
    timeout = step.timeout if step.timeout is not None else RECEIVE_TIMEOUT
    deadline = time.monotonic() + timeout
    passed_over: list[ET.Element] = []
    while remaining:
        try:
            got = client.receive(timeout=max(0.0, deadline - time.monotonic()))
        except ReceiveTimeout:
            raise _scansion_failure(step, remaining, passed_over, run.captures, timeout) from None
        for pattern in remaining:
            if matching.scansion_mismatch(pattern, got, run.captures) is None:
                remaining.remove(pattern)
                break
        else:
            passed_over.append(got)


def _scansion_failure(
    step,
    remaining: list[ET.Element],
    passed_over: list[ET.Element],
    captures: dict[str, str],
    timeout: float,
) -> StepFailed:
    wanted = remaining[0]
    missing = f"{len(remaining)} expected stanzas" if len(remaining) > 1 else "the expected stanza"
    if not passed_over:
        return StepFailed(
            f"{step.actor} received nothing matching {missing} within {timeout:g} s "
            "(nothing else arrived either)",
            "\n".join(f"- {line}" for line in matching.pretty(wanted)),
        )
    near = max(passed_over, key=lambda got: matching.closeness(wanted, got))
    reason = matching.scansion_mismatch(wanted, near, dict(captures))
    return StepFailed(
        f"{step.actor} received nothing matching {missing} within {timeout:g} s; "
        f"{len(passed_over)} other stanza(s) arrived and were passed over, the closest "
        f"differs: {reason}",
        matching.scansion_diff(wanted, near),
    )


def _settle(run: StepRun, client: Client) -> None:
    """Wait until the server has read what `client` sent: an XMPP ping to the server on
    the same stream, its answer taken out of the queue by id. So actions of different
    clients reach the server in the script's order (as the script means them)."""
    if not getattr(client, "connected", True):
        return
    ident = f"scansion-settle-{next(_SETTLE_IDS)}"
    host = client.jid.partition("@")[2].partition("/")[0]
    try:
        client.send(f'<iq type="get" id="{ident}" to="{host}"><ping xmlns="urn:xmpp:ping"/></iq>')
        client.receive(
            lambda s: s.get("id") == ident and stanza_xml.local_name(s) == "iq",
            timeout=SETTLE_TIMEOUT,
        )
    except (ReceiveTimeout, TargetError):
        return  # the stream closed (the script's next step says what that means)


_SETTLE_IDS = itertools.count(1)


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
ACTOR = r"(?P<actor>\S(?:.*?\S)?)"  # a client's name: spaces inside allowed

CLIENT_STEPS = (
    StepKind(
        "connect",
        ACTOR + r" connects",
        "client",
        "C connects",
        "client C logs in (its account is created first)",
        no_value,
        _connect,
        bare=True,
    ),
    StepKind(
        "disconnect",
        ACTOR + r" disconnects",
        "client",
        "C disconnects",
        "client C closes its stream",
        no_value,
        _disconnect,
        bare=True,
    ),
    StepKind(
        "send",
        ACTOR + r" sends",
        "client",
        "C sends: XML",
        "send one stanza (default namespace jabber:client)",
        _parse_send,
        _send,
        value_schema=STANZA,
    ),
    StepKind(
        "receive_nothing",
        ACTOR + r" receives nothing",
        "client",
        "C receives nothing: {within: SECONDS, matching: XML}",
        "no stanza (matching XML, if given) arrives within the time (default 0.5 s; also "
        "the plain text `C receives nothing`); stanzas that arrived earlier and were never "
        "matched count too",
        _parse_nothing,
        _receive_nothing,
        bare=True,
        value_schema={
            "type": "object",
            "properties": {"within": {"type": "number"}, "matching": STANZA},
        },
    ),
    StepKind(
        "receive",
        ACTOR + r" receives",
        "client",
        "C receives: XML (or a list of XML, in any order)",
        "the next stanza matching XML arrives (bound: `timeout:`, default 2 s); a list of "
        "XML strings: all of them, in any order; with `matching: scansion`, by scansion's "
        "rules, stanzas before the match passed over",
        _parse_receive,
        _receive,
        extra_keys=("timeout",),
        value_schema={"anyOf": [STANZA, {"type": "array", "items": STANZA, "minItems": 1}]},
    ),
)
