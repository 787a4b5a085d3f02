"""What is in flight when a backend fault strikes, and the outcome each cell must have.

Every action runs against a rig (matrix_rigs.py) with the fault applied, and reports what
the party waiting got (`outcome`, within `seconds`), whether anything was stored wrong
(`stored_ok`) and whether the same action works again once the backend is healthy
(`recovered`; None where the fault cannot be lifted: the TLS channel's certificate stays
untrusted)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness import stanza as stanza_xml
from harness.reliability.matrix_faults import MODULE_TIMEOUT, BackendFault
from harness.reliability.matrix_rigs import (
    CONCURRENCY,
    HOST,
    PASSWORD,
    REFRESH_OFFLINE,
    REFRESH_ONLINE,
    Channel,
    Rig,
)
from harness.target import ReceiveTimeout, TargetError

ROSTER_NS = "jabber:iq:roster"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
MARGIN = 3.0  # seconds beyond the module's own bound (a loaded 2-core machine)


@dataclass
class Observed:
    outcome: str
    seconds: float
    stored_ok: bool
    recovered: bool | None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Expectation:
    outcomes: frozenset[str]
    bound: float
    text: str  # the defined outcome, for the table


def _error_of(reply) -> str:
    """ "result", or "error TYPE/CONDITION" of an iq or presence."""
    if reply.get("type") != "error":
        return reply.get("type") or "available"
    for error in reply:
        if stanza_xml.local_name(error) == "error":
            for child in error:
                if (
                    child.tag.startswith("{" + STANZAS_NS + "}")
                    and stanza_xml.local_name(child) != "text"
                ):
                    return f"error {error.get('type')}/{stanza_xml.local_name(child)}"
    return "error"


def _roster_items(reply) -> dict[str, str]:
    query = reply.find(f"{{{ROSTER_NS}}}query")
    return {item.get("jid"): item.get("name") for item in (query if query is not None else [])}


def _roster_of(version: int) -> dict[str, dict[str, str]]:
    return {f"contact{version}@{HOST}": {"name": f"v{version}"}}


def _is_push(element) -> bool:
    return (
        stanza_xml.local_name(element) == "iq"
        and element.get("type") == "set"
        and element.find(f"{{{ROSTER_NS}}}query") is not None
    )


def _drain_pushes(client, wait: float = 0.0) -> int:
    """Take every roster push that arrived (waiting `wait` s for the first); how many."""
    count = 0
    try:
        while True:
            client.receive(_is_push, timeout=wait if count == 0 else 0.05)
            count += 1
    except ReceiveTimeout:
        return count


# -- roster fetch: a login -----------------------------------------------------------------


def login(rig: Rig, channel: Channel, fault: BackendFault, restore: Callable[[], None]) -> Observed:
    name = rig.fresh_name("login")
    channel.backend.backend.set_roster(name, _roster_of(1))
    fault.apply(channel.backend)
    client = rig.user(name, channel.domain)
    try:
        started = time.monotonic()
        reply = client.roster_get(timeout=MODULE_TIMEOUT + 15)
        seconds = time.monotonic() - started
        outcome = _error_of(reply)
        stored_ok = outcome != "result" or _roster_items(reply) == {f"contact1@{HOST}": "v1"}
        restore()
        recovered = None
        if not channel.tls:
            again = client.roster_get(timeout=MODULE_TIMEOUT + 5)
            recovered = _roster_items(again) == {f"contact1@{HOST}": "v1"}
            stored_ok = stored_ok and recovered
        return Observed(outcome, seconds, stored_ok, recovered)
    finally:
        client.disconnect()


# -- roster fetch: a refresh of many users ------------------------------------------------


def _refresh_clients(rig: Rig, channel: Channel) -> list:
    """REFRESH_ONLINE users online on the channel, rosters requested (loaded where the
    backend works), shared by every refresh cell of the channel."""
    if channel.domain not in rig.refresh_users:
        rig.roster_version[channel.domain] = 1
        clients = []
        for index in range(REFRESH_ONLINE):
            name = f"many{index}"
            channel.backend.backend.set_roster(name, _roster_of(1))
            clients.append(rig.user(name, channel.domain))
        for client in clients:
            client.roster_get(timeout=MODULE_TIMEOUT + 10)
        rig.refresh_users[channel.domain] = clients
    return rig.refresh_users[channel.domain]


def _refresh(rig: Rig, domain: str, names: list[str], timeout: float) -> tuple[int, dict]:
    answer = rig.target.http(
        "POST",
        "/roster_admin/refresh",
        {"Content-Type": "application/json", "Host": domain},
        json.dumps(names).encode(),
        timeout,
    )
    try:
        return answer.status, json.loads(answer.body or b"null") or {}
    except ValueError:
        return answer.status, {}


def refresh_many(
    rig: Rig, channel: Channel, fault: BackendFault, restore: Callable[[], None]
) -> Observed:
    clients = _refresh_clients(rig, channel)
    current = rig.roster_version[channel.domain]
    names = [f"many{index}" for index in range(REFRESH_ONLINE)]
    names += [f"offline{index}" for index in range(REFRESH_OFFLINE)]
    for index in range(REFRESH_ONLINE):  # what a refresh would bring: the next version
        channel.backend.backend.set_roster(f"many{index}", _roster_of(current + 1))
    for client in clients:
        _drain_pushes(client)
    fault.apply(channel.backend)
    started = time.monotonic()
    status, summary = _refresh(rig, channel.domain, names, 60)
    seconds = time.monotonic() - started
    outcome = f"HTTP {status}, {summary.get('errors')} errors, {summary.get('updated')} updated"
    time.sleep(0.2)
    pushed = sum(_drain_pushes(client) for client in clients)
    notes = [f"{pushed} roster push(es) during the fault"] if pushed else []
    stored_ok = pushed == 0
    if not channel.tls:
        reply = clients[0].roster_get(timeout=5)
        stored_ok = stored_ok and _roster_items(reply) == {
            f"contact{current}@{HOST}": f"v{current}"
        }
    restore()
    recovered = None
    if not channel.tls:
        status, summary = _refresh(rig, channel.domain, names, 60)
        recovered = status == 200 and summary.get("errors") == 0
        for client in clients:  # one contact added, one removed: two pushes each
            recovered = recovered and _drain_pushes(client, wait=5) == 2
        rig.roster_version[channel.domain] = current + 1
    return Observed(outcome, seconds, stored_ok, recovered, notes)


# -- MUC auth: a join ---------------------------------------------------------------------


def join(rig: Rig, channel: Channel, fault: BackendFault, restore: Callable[[], None]) -> Observed:
    name = rig.fresh_name("joiner")
    room = f"{rig.fresh_name('room')}@{channel.domain}"
    client = rig.user(name)
    try:
        fault.apply(channel.backend)
        started = time.monotonic()
        try:
            client.muc_join(room, name, timeout=MODULE_TIMEOUT + 15)
            outcome = "joined"
        except ReceiveTimeout:
            outcome = "no answer"
        except TargetError as exc:
            reply = stanza_xml.parse(str(exc).split("failed: ", 1)[1])
            outcome = _error_of(reply)
        seconds = time.monotonic() - started
        info = client.query(
            f'<iq type="get" to="{room}"><query xmlns='
            '"http://jabber.org/protocol/disco#info"/></iq>',
            timeout=5,
        )
        stored_ok = outcome == "joined" or _error_of(info).endswith("item-not-found")
        notes = [] if stored_ok else ["the refused join left a room behind"]
        restore()
        recovered = None
        if not channel.tls:
            try:
                client.muc_join(room, name, timeout=MODULE_TIMEOUT + 5)
                recovered = True
            except (TargetError, ReceiveTimeout) as exc:
                recovered = False
                notes.append(f"join after the fault: {str(exc)[:120]}")
        return Observed(outcome, seconds, stored_ok, recovered, notes)
    finally:
        client.disconnect()


# -- webhook: an iq waiting on it ---------------------------------------------------------


def iq_to_webhook(
    rig: Rig, channel: Channel, fault: BackendFault, restore: Callable[[], None]
) -> Observed:
    client = rig.user(rig.fresh_name("asker"))
    try:
        fault.apply(channel.backend)
        if channel.backend.listening:
            channel.backend.backend.clear_journal()
        iq_id = rig.fresh_name("matrix-iq-")
        iq = (
            f'<iq type="get" id="{iq_id}" to="{channel.domain}">'
            '<query xmlns="jabber:iq:version"/></iq>'
        )
        started = time.monotonic()
        try:
            outcome = _error_of(client.query(iq, timeout=MODULE_TIMEOUT + 15))
        except ReceiveTimeout:
            outcome = "no answer"
        seconds = time.monotonic() - started
        # This iq's POSTs only: a slow answer of an earlier cell is journaled when it ends.
        delivered = (
            sum(
                1
                for entry in channel.backend.backend.journal()
                if iq_id in (entry.get("body") or "")
            )
            if channel.backend.listening
            else 0
        )
        stored_ok = delivered <= 1
        notes = [] if stored_ok else [f"the stanza was POSTed {delivered} times"]
        restore()
        recovered = None
        if not channel.tls:
            again = iq.replace(iq_id, iq_id + "-again")
            recovered = _error_of(client.query(again, timeout=MODULE_TIMEOUT + 5)) == "result"
        return Observed(outcome, seconds, stored_ok, recovered, notes)
    finally:
        client.disconnect()


# -- what each cell must give -------------------------------------------------------------

TIMEOUT_FAULTS = {"hang", "slow"}
WAVES = math.ceil(REFRESH_ONLINE / CONCURRENCY)
WEBHOOK_OUTCOMES = {
    "refused": {"error wait/recipient-unavailable"},
    "reset": {"error wait/recipient-unavailable"},
    "hang": {"error wait/remote-server-timeout"},
    "slow": {"error wait/remote-server-timeout"},
    "5xx": {"error cancel/service-unavailable"},
    "content-type": {"result"},
    "invalid-json": {"error cancel/internal-server-error"},
    # Prosody's HTTP client reads at most 10 MiB of an answer: the request fails.
    "50mb": {
        "error wait/recipient-unavailable",
        "error cancel/internal-server-error",
        "error wait/remote-server-timeout",
    },
    "tls": {"error wait/recipient-unavailable"},
    "redirect": {"error cancel/internal-server-error"},
}


def expectation(action: str, fault: BackendFault) -> Expectation:
    if action == "a login":
        outcomes = (
            {"error wait/remote-server-timeout"}
            if fault.name in TIMEOUT_FAULTS
            else {"error wait/internal-server-error", "error wait/remote-server-timeout"}
            if fault.name == "50mb"
            else {"error wait/internal-server-error"}
        )
        text = (
            f"the roster get gets `{' or '.join(sorted(outcomes))}` within "
            f"{MODULE_TIMEOUT:g} s + {MARGIN:g} s; the next get fetches again and gets "
            "the roster"
        )
        return Expectation(frozenset(outcomes), MODULE_TIMEOUT + MARGIN, text)
    if action == "a refresh of many users":
        outcome = f"HTTP 200, {REFRESH_ONLINE} errors, {REFRESH_OFFLINE} updated"
        bound = WAVES * MODULE_TIMEOUT + MARGIN
        text = (
            f"`{outcome}` within {bound:g} s; no push, rosters unchanged; the next "
            "refresh updates everyone"
        )
        return Expectation(frozenset({outcome}), bound, text)
    if action == "a join":
        text = (
            f"the join is refused `auth/not-authorized` within {MODULE_TIMEOUT:g} s + "
            f"{MARGIN:g} s; no room is left behind; the next join (faults are never "
            "cached) gets in"
        )
        return Expectation(frozenset({"error auth/not-authorized"}), MODULE_TIMEOUT + MARGIN, text)
    outcomes = WEBHOOK_OUTCOMES[fault.name]
    text = (
        f"the iq gets `{' or '.join(sorted(outcomes))}` within {MODULE_TIMEOUT:g} s + "
        f"{MARGIN:g} s; the stanza is POSTed at most once; the next iq gets its result"
    )
    return Expectation(frozenset(outcomes), MODULE_TIMEOUT + MARGIN, text)


ACTIONS = {
    "roster fetch": {"a login": login, "a refresh of many users": refresh_many},
    "MUC auth": {"a join": join},
    "webhook": {"an iq waiting on the webhook": iq_to_webhook},
}

__all__ = ["ACTIONS", "Expectation", "Observed", "PASSWORD", "expectation"]
