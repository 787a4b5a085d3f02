"""The soak's mixed traffic and its ledger: logins and logouts, roster refreshes, MUC
joins, REST sends, admin calls and webhook deliveries, each from its own worker thread
with its own seeded random generator; every message that Prosody accepts is written down
so that the end of the run can tell whether any was lost, and every request that got no
answer within its bound is written down as stuck."""

from __future__ import annotations

import base64
import itertools
import json
import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from harness import stanza as stanza_xml
from harness.reliability.soak_rig import (
    ADMIN_PASSWORD,
    BOT,
    HOST,
    MODULE_TIMEOUT,
    PASSWORD,
    ROOMS,
    USERS,
    SoakRig,
    user_name,
)
from harness.target import Client, TargetError

BOUND = MODULE_TIMEOUT + 8  # an answer that takes longer than this counts as stuck
MAX_ONLINE = 15


def _auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


@dataclass
class Ledger:
    sent: dict[str, str] = field(default_factory=dict)  # message id -> how it was sent
    received: set[str] = field(default_factory=set)
    webhook_sent: set[str] = field(default_factory=set)
    webhook_bounced: set[str] = field(default_factory=set)
    counts: Counter = field(default_factory=Counter)
    stuck: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, what: str) -> None:
        with self.lock:
            self.counts[what] += 1

    def accepted(self, message_id: str, how: str) -> None:
        with self.lock:
            self.sent[message_id] = how

    def stuck_on(self, what: str) -> None:
        with self.lock:
            self.stuck.append(what)


class Traffic:
    """Start() the workers, stop() them; the ledger says what happened."""

    def __init__(self, rig: SoakRig, seed: int) -> None:
        self.rig, self.seed = rig, seed
        self.ledger = Ledger()
        self.stopping = threading.Event()
        self.ids = itertools.count()
        self.online: dict[str, Client] = {}
        self.busy: set[str] = set()  # online, and in a room's hands for a moment
        self.online_lock = threading.Lock()
        self.sink = rig.target.connect(f"sink@{HOST}", PASSWORD)
        self.talker = rig.target.connect(f"sender@{HOST}", PASSWORD)
        self.hooker = rig.target.connect(f"hooker@{HOST}", PASSWORD)
        for client in (self.sink, self.talker, self.hooker):
            client.send_presence()  # available: messages to the bare JID reach it
        self.threads: list[threading.Thread] = []

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self.ids)}"

    # -- the workers ---------------------------------------------------------------------

    def start(self) -> None:
        loops = {
            "logins": self.login_or_out,
            "refreshes": self.refresh,
            "joins": self.join,
            "rest": self.rest_send,
            "admin": self.admin_call,
            "talk": self.client_send,
            "webhook": self.webhook_delivery,
            "sink": self.collect,
        }
        for index, (name, step) in enumerate(loops.items()):
            generator = random.Random(self.seed * 100 + index)
            thread = threading.Thread(
                target=self._loop, args=(name, step, generator), name=f"soak-{name}", daemon=True
            )
            self.threads.append(thread)
            thread.start()

    def _loop(self, name: str, step, generator: random.Random) -> None:
        while not self.stopping.is_set():
            try:
                step(generator)
            except Exception as exc:  # noqa: BLE001 - recorded, the soak goes on
                self.ledger.count(f"{name}: {type(exc).__name__}")
                self.ledger.stuck_on(f"{name}: {exc}"[:200])
            if name != "sink":
                self.stopping.wait(generator.uniform(0.02, 0.25))

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(BOUND * 3)

    def _timed(self, what: str, call, bound: float = BOUND):
        started = time.monotonic()
        result = call()
        if time.monotonic() - started > bound:
            self.ledger.stuck_on(f"{what} took {time.monotonic() - started:.1f} s")
        return result

    def login_or_out(self, generator: random.Random) -> None:
        with self.online_lock:
            online = [name for name in self.online if name not in self.busy]
            free = [user_name(i) for i in range(USERS) if user_name(i) not in self.online]
        if online and (len(online) >= MAX_ONLINE or generator.random() < 0.4):
            name = generator.choice(online)
            with self.online_lock:
                client = self.online.pop(name)
            client.disconnect()
            self.ledger.count("logouts")
            return
        name = generator.choice(free)
        client = self.rig.target.connect(f"{name}@{HOST}", PASSWORD)
        reply = self._timed("roster get", lambda: client.roster_get(timeout=BOUND))
        self.ledger.count(f"logins (roster {reply.get('type')})")
        client.send_presence()
        with self.online_lock:
            self.online[name] = client

    def refresh(self, generator: random.Random) -> None:
        names = generator.sample([user_name(i) for i in range(USERS)], generator.randint(1, 25))
        if generator.random() < 0.3:  # the web app changed someone's roster
            name = generator.choice(names)
            self.rig.roster.set_roster(
                name, {f"{user_name(generator.randrange(USERS))}@{HOST}": {"name": "changed"}}
            )
        bound = math.ceil(len(names) / 8) * MODULE_TIMEOUT + 8
        answer = self._timed(
            "refresh",
            lambda: self.rig.target.http(
                "POST",
                "/roster_admin/refresh",
                {"Content-Type": "application/json"},
                json.dumps(names).encode(),
                bound + 5,
            ),
            bound,
        )
        self.ledger.count(f"refreshes (HTTP {answer.status})")

    def join(self, generator: random.Random) -> None:
        with self.online_lock:
            idle = [name for name in self.online if name not in self.busy]
            if not idle:
                return
            name = generator.choice(idle)
            client = self.online[name]
            self.busy.add(name)  # ours while we use it
        try:
            room = f"soakroom{generator.randrange(8)}@{ROOMS}"
            try:
                self._timed("join", lambda: client.muc_join(room, name, timeout=BOUND))
                self.ledger.count("joins (in)")
                client.muc_leave(room, name, timeout=BOUND)
            except TargetError as exc:
                self.ledger.count("joins (refused)" if "failed" in str(exc) else "joins (none)")
                if "failed" not in str(exc):
                    self.ledger.stuck_on(f"join of {room}: {exc}"[:200])
        finally:
            with self.online_lock:
                self.busy.discard(name)

    def rest_send(self, generator: random.Random) -> None:
        message_id = self.new_id("rest-")
        body = {
            "kind": "message",
            "type": "chat",
            "to": f"sink@{HOST}",
            "id": message_id,
            "body": message_id,
        }
        answer = self._timed(
            "REST send",
            lambda: self.rig.target.http(
                "POST", "/rest", _auth("sender", PASSWORD), json.dumps(body).encode(), BOUND
            ),
        )
        self.ledger.count(f"REST sends (HTTP {answer.status})")
        if answer.status == 202:
            self.ledger.accepted(message_id, "REST")

    def admin_call(self, generator: random.Random) -> None:
        headers = _auth(f"admin@{HOST}", ADMIN_PASSWORD)
        choice = generator.random()
        if choice < 0.4:
            message_id = self.new_id("admin-")
            answer = self.rig.target.http(
                "POST",
                "/admin_rest/message/sink",
                headers,
                json.dumps({"message": message_id}).encode(),
                BOUND,
            )
            if answer.status in (200, 202):
                self.ledger.accepted(message_id, "admin")
        elif choice < 0.7:
            answer = self.rig.target.http("GET", "/admin_rest/users/count", headers, None, BOUND)
        else:
            user = user_name(generator.randrange(USERS))
            answer = self.rig.target.http("GET", f"/admin_rest/user/{user}", headers, None, BOUND)
        self.ledger.count(f"admin calls (HTTP {answer.status})")

    def client_send(self, generator: random.Random) -> None:
        message_id = self.new_id("xmpp-")
        self.talker.send(
            f'<message to="sink@{HOST}" type="chat" id="{message_id}">'
            f"<body>{message_id}</body></message>"
        )
        self.ledger.accepted(message_id, "XMPP")
        self.ledger.count("XMPP messages")

    def webhook_delivery(self, generator: random.Random) -> None:
        if generator.random() < 0.5:
            message_id = self.new_id("hook-")
            self.hooker.send(
                f'<message to="{BOT}" type="chat" id="{message_id}">'
                f"<body>{message_id}</body></message>"
            )
            with self.ledger.lock:
                self.ledger.webhook_sent.add(message_id)
            self.ledger.count("webhook messages")
        else:
            reply = self._timed(
                "iq to the webhook",
                lambda: self.hooker.query(
                    f'<iq type="get" to="{BOT}"><query xmlns="jabber:iq:version"/></iq>',
                    timeout=BOUND,
                ),
            )
            self.ledger.count(f"webhook iqs ({reply.get('type')})")
        self._collect_bounces(0.0)

    def _collect_bounces(self, wait: float) -> None:
        def bounce(element) -> bool:
            return stanza_xml.local_name(element) == "message" and element.get("type") == "error"

        try:
            while True:
                element = self.hooker.receive(bounce, timeout=wait)
                with self.ledger.lock:
                    self.ledger.webhook_bounced.add(element.get("id"))
        except TargetError:
            return

    def collect(self, generator: random.Random) -> None:
        def message(element) -> bool:
            return stanza_xml.local_name(element) == "message"

        try:
            element = self.sink.receive(message, timeout=0.5)
        except TargetError:
            return
        body = element.find(f"{{{stanza_xml.CLIENT_NS}}}body")
        if body is not None and body.text:
            with self.ledger.lock:
                self.ledger.received.add(body.text.strip())

    # -- the end -------------------------------------------------------------------------

    def drain(self, bound: float = 20.0) -> None:
        """After stop(): let every accepted message arrive (at most `bound` s)."""
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            self.collect(random.Random())
            with self.ledger.lock:
                if set(self.ledger.sent) <= self.ledger.received:
                    break
        self._collect_bounces(1.0)

    def disconnect_all(self) -> None:
        with self.online_lock:
            clients, self.online = list(self.online.values()), {}
        for client in [*clients, self.sink, self.talker, self.hooker]:
            client.disconnect()
