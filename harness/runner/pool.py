"""Servers shared by scenarios whose profiles are equal.

Starting Prosody and creating accounts is most of a short scenario's cost, so the pool
keeps a started server per reuse key (the profile as written plus the backend names) and
lends it to the next scenario with the same key. Isolation on a shared server comes from
two things: every scenario gets its own account names (harness.runner.isolation) and its
own fresh mock backends on the server's fixed backend ports (harness.runner.backends).
A scenario with `shared_server: false`, or a pool built with reuse=False, gets a server of
its own that is stopped after it, with names as written.

Told the order scenarios will come in (`plan`), the pool starts the servers of the next
few profiles in the background while earlier scenarios run, so a server's start overlaps
other work instead of adding to it; a scenario that needs a server still starting waits
for that one rather than starting a second.
"""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from harness.ports import HeldPorts
from harness.profile import Profile
from harness.runner.backends import backend_variables
from harness.runner.execute import ServerContext
from harness.runner.provenance import target_info
from harness.scenario import Scenario, build_profile
from harness.scenario.placeholders import resolve
from harness.target import Target, TargetError
from harness.targets import TargetSpec


@dataclass(eq=False)  # a lease is an identity
class Lease:
    server: ServerContext
    key: str | None  # reuse key; None for a private server


class ServerPool:
    def __init__(self, spec: TargetSpec, reuse: bool = True):
        self.spec = spec
        self.reuse = reuse
        self.series = spec.series()  # for scenarios that run on some versions only
        self._idle: dict[str, list[Lease]] = {}
        self._all: list[Lease] = []
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self.servers_started = 0
        self.server_info: dict[str, str] = {}  # of the first server started (the reports')
        self._probe_lock = threading.Lock()
        self._probed = False
        self._unavailable: str | None = None
        self._starting: dict[str, Future[None]] = {}  # key -> a start in the background
        self._used: set[str] = set()  # keys prestarted once (never twice)
        # One scenario per profile (with its key), in the order they will come.
        self._plan: list[tuple[Scenario, str]] = []
        self._ahead = 0
        self._prestarter: ThreadPoolExecutor | None = None

    def plan(self, scenarios: list[Scenario], ahead: int) -> None:
        """The order scenarios will be acquired in: keep `ahead` profiles' servers starting
        ahead of need (0: start each server only when a scenario asks)."""
        if not self.reuse or ahead < 1:
            return
        seen: set[str] = set()
        self._plan = []
        for scenario in scenarios:
            key = scenario.reuse_key()
            if scenario.shared_server and key not in seen:
                seen.add(key)
                self._plan.append((scenario, key))
        self._ahead = ahead
        self._prestarter = ThreadPoolExecutor(ahead, thread_name_prefix="prestart")
        self._prestart_next(None)

    def acquire(self, scenario: Scenario) -> Lease:
        """A started server for `scenario` (TargetError if it cannot start)."""
        shared = self.reuse and scenario.shared_server
        key = scenario.reuse_key() if shared else None
        if key is not None:
            self._prestart_next(key)
        while True:
            with self._lock:
                idle = self._idle.get(key) if key is not None else None
                lease = idle.pop() if idle else None
                pending = self._starting.get(key) if key is not None and not lease else None
                suffix = f"_s{next(self._counter)}" if shared else ""
            if pending is None:
                break
            pending.result()  # the server being started for this profile: take it
        if lease is None:
            lease = Lease(self._start(scenario), key)
            with self._lock:
                self._all.append(lease)
        lease.server.suffix = suffix
        return lease

    def _prestart_next(self, current: str | None) -> None:
        """Start, in the background, the servers of the profiles due after `current`."""
        if self._prestarter is None:
            return
        keys = [key for _, key in self._plan]
        first = keys.index(current) + 1 if current in keys else 0
        for scenario, key in self._plan[first : first + self._ahead]:
            with self._lock:
                if key in self._starting or self._idle.get(key) or key in self._used:
                    continue
                self._used.add(key)
                self._starting[key] = self._prestarter.submit(self._prestart, scenario, key)

    def _prestart(self, scenario: Scenario, key: str) -> None:
        try:
            lease = Lease(self._start(scenario), key)
        except Exception:  # noqa: BLE001 - the scenario that needs it starts its own and reports
            return
        finally:
            with self._lock:
                self._starting.pop(key, None)
        with self._lock:
            self._all.append(lease)
            self._idle.setdefault(key, []).append(lease)

    def unavailable_reason(self) -> str | None:
        """Why this target cannot start any server here (None when it can). Asked after a
        start failed, to tell a target that is missing (docker without an engine) from a
        scenario whose own profile does not start: the first is skipped, the second fails.
        Tried once with the default profile, then remembered."""
        with self._probe_lock:
            if self.servers_started or self._probed:
                return None if self.servers_started else self._unavailable
            self._probed = True
            target = self.spec.create(Profile())
            try:
                target.start()
            except Exception as exc:  # noqa: BLE001 - whatever stops it is the reason
                self._unavailable = str(exc) if isinstance(exc, TargetError) else repr(exc)
            finally:
                target.stop()
            return self._unavailable

    def release(self, lease: Lease, healthy: bool = True) -> None:
        """Give a server back: kept for the next scenario with its key, else stopped."""
        if lease.key is not None and healthy:
            with self._lock:
                self._idle.setdefault(lease.key, []).append(lease)
            return
        self._stop(lease)

    def close(self) -> None:
        """Stop every server, side by side: a container takes a quarter second to stop,
        most of it the engine's waiting, so one after another they would add up."""
        if self._prestarter is not None:
            self._prestarter.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            leases, self._all, self._idle = list(self._all), [], {}
        if not leases:
            return
        with ThreadPoolExecutor(max_workers=min(8, len(leases))) as executor:
            list(executor.map(lambda lease: lease.server.stop(), leases))

    def _start(self, scenario: Scenario) -> ServerContext:
        started = time.perf_counter()
        held = HeldPorts(list(scenario.backends))
        target: Target = self.spec.create(Profile())
        try:
            # The profile names the backends' URLs, which depend on where the target
            # reaches them from (a container reaches the host at another address).
            host = target.backend_host
            variables = backend_variables(host, held.ports, scenario.backends)
            target.profile = build_profile(resolve(scenario.prosody, variables))
            target.start()
        except BaseException:
            try:
                target.stop()
            finally:
                held.release()
            raise
        with self._lock:
            self.servers_started += 1
            self.server_info = self.server_info or target_info(target)
        return ServerContext(
            target,
            held,
            host,
            boot_lines=len(target.log()),
            unreported_start=time.perf_counter() - started,
        )

    def _stop(self, lease: Lease) -> None:
        with self._lock:
            if lease in self._all:
                self._all.remove(lease)
        lease.server.stop()
