"""The soak's server: one Prosody with every module that talks HTTP (the roster fetch and
refresh API, MUC auth on a MUC component, mod_rest on the host for sends and on a
component for webhook deliveries, mod_admin_rest), its three mock backends, a fault
injector that breaks a random backend now and then, and an RSS sampler."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

from harness.profile import ComponentProfile, Profile, VirtualHostProfile
from harness.targets.prosody import ProsodyTarget
from mock_backends import Backend, start_backend

HOST, ROOMS, BOT = "localhost", "rooms.localhost", "bot.localhost"
PASSWORD, ADMIN_PASSWORD, BOT_SECRET = "s3cret", "adminpw", "b0t-s3cret"
MODULE_TIMEOUT = 2.0
USERS = 40  # the pool that logs in and out


def user_name(index: int) -> str:
    return f"soak{index}"


@dataclass
class SoakRig:
    target: ProsodyTarget
    roster: Backend
    muc_auth: Backend
    webhook: Backend

    @property
    def backends(self) -> dict[str, Backend]:
        return {"roster": self.roster, "muc_auth": self.muc_auth, "webhook": self.webhook}

    def stop(self) -> None:
        try:
            self.target.stop()
        finally:
            for backend in self.backends.values():
                backend.stop()


def start_rig(version: str) -> SoakRig:
    rosters = {
        user_name(i): {
            f"{user_name((i + k) % USERS)}@{HOST}": {"name": f"friend {k}"} for k in (1, 2, 3)
        }
        for i in range(USERS)
    }
    roster = start_backend("roster", {"rosters": rosters})
    muc_auth = start_backend("muc_auth")
    webhook = start_backend("rest_callback")  # 202 to everything: an iq gets a result
    profile = Profile(
        hosts={
            HOST: VirtualHostProfile(
                HOST,
                modules_enabled=["http_roster_admin", "rest", "admin_rest"],
                modules_disabled=["roster"],
                options={
                    "http_roster_url": roster.url + "/contacts/%s",
                    "http_roster_timeout": MODULE_TIMEOUT,
                    "storage": {"roster": "memory"},
                    "admins": [f"admin@{HOST}"],
                },
            )
        },
        components={
            ROOMS: ComponentProfile(
                ROOMS,
                "muc",
                modules_enabled=["muc_http_auth"],
                options={
                    "muc_http_auth_url": muc_auth.url + "/can-join",
                    "muc_http_auth_timeout": MODULE_TIMEOUT,
                },
            ),
            BOT: ComponentProfile(
                BOT,
                "rest",
                options={
                    "component_secret": BOT_SECRET,
                    "rest_callback_url": webhook.url + "/stanzas",
                    "rest_callback_timeout": MODULE_TIMEOUT,
                },
            ),
        },
    )
    target = ProsodyTarget(profile, prosody=version)
    rig = SoakRig(target, roster, muc_auth, webhook)
    try:
        target.start()
        target.create_user("admin", HOST, ADMIN_PASSWORD)
        for name in ("sender", "sink", "hooker", *(user_name(i) for i in range(USERS))):
            target.create_user(name, HOST, PASSWORD)
    except BaseException:
        rig.stop()
        raise
    return rig


FAULT_MENU = [
    {"latency": 0.3},
    {"latency": MODULE_TIMEOUT + 1},
    {"status": 503},
    {"status": 500},
    {"drop": True},
    {"hang": MODULE_TIMEOUT + 1},
    {"reset": True},
    {"body": "{not json"},
    {"redirect": True},
]


class FaultInjector(threading.Thread):
    """Every few seconds, a random fault on a random backend for a few requests."""

    def __init__(self, rig: SoakRig, seed: int, every: float = 6.0) -> None:
        super().__init__(name="soak-faults", daemon=True)
        self.rig, self.random, self.every = rig, random.Random(seed), every
        self.injected: dict[str, int] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.random.uniform(0.5, 1.5) * self.every):
            name = self.random.choice(sorted(self.rig.backends))
            fault = dict(self.random.choice(FAULT_MENU), times=self.random.randint(1, 6))
            self.rig.backends[name].add_fault(**fault)
            kind = next(key for key in fault if key != "times")
            self.injected[kind] = self.injected.get(kind, 0) + 1

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)
        for backend in self.rig.backends.values():
            backend.clear_faults()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@dataclass
class RssSampler:
    pid: int
    every: float = 5.0
    samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds, KiB)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="soak-rss", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.samples.append((time.monotonic() - self._started, rss_kib(self.pid)))
            except OSError:
                return
            if self._stop.wait(self.every):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def summary(self, warm_up: float) -> dict[str, float]:
        """RSS in MB after warm-up and at the end, the growth, and the slope after warm-up
        (least squares, MB per minute)."""
        after = [(t, kib / 1024) for t, kib in self.samples if t >= warm_up] or [
            (t, kib / 1024) for t, kib in self.samples[-1:]
        ]
        warm, end = after[0][1], after[-1][1]
        mean_t = sum(t for t, _ in after) / len(after)
        mean_m = sum(m for _, m in after) / len(after)
        spread = sum((t - mean_t) ** 2 for t, _ in after)
        slope = sum((t - mean_t) * (m - mean_m) for t, m in after) / spread * 60 if spread else 0.0
        return {
            "start": self.samples[0][1] / 1024,
            "warm": warm,
            "end": end,
            "peak": max(kib for _, kib in self.samples) / 1024,
            "growth_mb": end - warm,
            "growth_percent": (end - warm) / warm * 100,
            "slope_mb_per_min": slope,
            "samples": len(self.samples),
        }
