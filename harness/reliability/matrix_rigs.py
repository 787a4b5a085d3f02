"""The servers of the fault matrix: for each module that calls out, one real Prosody of
the version under test with the module wired to a plain mock backend (faults are
injected there) and, on a second host or component, to a backend whose certificate no
one trusts (the TLS cells). A bystander client pings the server while a cell runs, to
see that a fault never stalls Prosody as a whole."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field

from harness.profile import ComponentProfile, Profile, VirtualHostProfile
from harness.reliability.matrix_faults import MODULE_TIMEOUT, FaultableBackend
from harness.target import Client
from harness.targets.prosody import ProsodyTarget

HOST, TLS_HOST = "localhost", "tls.localhost"
ROOMS, TLS_ROOMS = "rooms.localhost", "tlsrooms.localhost"
BOT, TLS_BOT = "bot.localhost", "tlsbot.localhost"
PASSWORD = "s3cret"
BOT_SECRET = "b0t-s3cret"
REFRESH_ONLINE, REFRESH_OFFLINE = 20, 200
CONCURRENCY = 8


@dataclass
class Channel:
    """Where a cell's action goes: the module's host or component, and its backend."""

    domain: str
    backend: FaultableBackend
    tls: bool


@dataclass
class Rig:
    module: str
    target: ProsodyTarget
    plain: Channel
    tls: Channel
    bystander: Client | None = None
    refresh_users: dict[str, list[Client]] = field(default_factory=dict)
    roster_version: dict[str, int] = field(default_factory=dict)
    _names: itertools.count = field(default_factory=itertools.count)

    def channel(self, tls: bool) -> Channel:
        return self.tls if tls else self.plain

    def fresh_name(self, prefix: str) -> str:
        return f"{prefix}{next(self._names)}"

    def user(self, name: str, domain: str = HOST) -> Client:
        self.target.create_user(name, domain, PASSWORD)
        return self.target.connect(f"{name}@{domain}", PASSWORD)

    def stop(self) -> None:
        try:
            self.target.stop()
        finally:
            self.plain.backend.stop()
            self.tls.backend.stop()


def _host(name: str, modules: list[str], disabled: list[str], options: dict) -> VirtualHostProfile:
    return VirtualHostProfile(
        name, modules_enabled=modules, modules_disabled=disabled, options=options
    )


def roster_rig(version: str) -> Rig:
    plain, tls = FaultableBackend("roster"), FaultableBackend("roster", tls="self-signed")

    def options(backend: FaultableBackend) -> dict:
        return {
            "http_roster_url": backend.url + "/contacts/%s",
            "http_roster_timeout": MODULE_TIMEOUT,
            "http_roster_concurrency": CONCURRENCY,
            "storage": {"roster": "memory"},
        }

    profile = Profile(
        hosts={
            name: _host(name, ["http_roster_admin"], ["roster"], options(backend))
            for name, backend in ((HOST, plain), (TLS_HOST, tls))
        }
    )
    return _started(
        "roster fetch", version, profile, Channel(HOST, plain, False), Channel(TLS_HOST, tls, True)
    )


def muc_rig(version: str) -> Rig:
    plain, tls = FaultableBackend("muc_auth"), FaultableBackend("muc_auth", tls="self-signed")

    def component(name: str, backend: FaultableBackend) -> ComponentProfile:
        return ComponentProfile(
            name,
            "muc",
            modules_enabled=["muc_http_auth"],
            options={
                "muc_http_auth_url": backend.url + "/can-join",
                "muc_http_auth_timeout": MODULE_TIMEOUT,
                # Decisions are cached, so the matrix also sees that faults never are.
                "muc_http_auth_cache_ttl": 300,
            },
        )

    profile = Profile(
        components={ROOMS: component(ROOMS, plain), TLS_ROOMS: component(TLS_ROOMS, tls)}
    )
    return _started(
        "MUC auth", version, profile, Channel(ROOMS, plain, False), Channel(TLS_ROOMS, tls, True)
    )


def webhook_rig(version: str) -> Rig:
    plain = FaultableBackend("rest_callback")
    tls = FaultableBackend("rest_callback", tls="self-signed")

    def component(name: str, backend: FaultableBackend) -> ComponentProfile:
        return ComponentProfile(
            name,
            "rest",
            options={
                "component_secret": BOT_SECRET,
                "rest_callback_url": backend.url + "/stanzas",
                "rest_callback_timeout": MODULE_TIMEOUT,
            },
        )

    profile = Profile(components={BOT: component(BOT, plain), TLS_BOT: component(TLS_BOT, tls)})
    return _started(
        "webhook", version, profile, Channel(BOT, plain, False), Channel(TLS_BOT, tls, True)
    )


def _started(module: str, version: str, profile: Profile, plain: Channel, tls: Channel) -> Rig:
    profile.hosts.setdefault(HOST, VirtualHostProfile(HOST))
    target = ProsodyTarget(profile, prosody=version)
    rig = Rig(module, target, plain, tls)
    try:
        target.start()
        rig.bystander = rig.user("bystander")
        if module == "roster fetch":
            rig.bystander.roster_get(timeout=5)
    except BaseException:
        rig.stop()
        raise
    return rig


RIGS = {"roster fetch": roster_rig, "MUC auth": muc_rig, "webhook": webhook_rig}


class ResponsivenessProbe:
    """Pings the server from the bystander every 100 ms while a cell runs; the slowest
    round trip says whether the fault stalled Prosody for everybody."""

    def __init__(self, client: Client, domain: str = HOST) -> None:
        self.client, self.domain = client, domain
        self.slowest = 0.0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="matrix-probe", daemon=True)

    def __enter__(self) -> ResponsivenessProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.client.query(
                    f'<iq type="get" to="{self.domain}"><ping xmlns="urn:xmpp:ping"/></iq>',
                    timeout=5,
                )
            except Exception:  # noqa: BLE001 - a lost ping is what we count
                self.failures += 1
            self.slowest = max(self.slowest, time.monotonic() - started)
            self._stop.wait(0.1)
