"""Servers shared by scenarios whose profiles are equal.

Starting Prosody and creating accounts is most of a short scenario's cost, so the pool
keeps a started server per reuse key (the profile as written plus the backend names) and
lends it to the next scenario with the same key. Isolation on a shared server comes from
two things: every scenario gets its own account names (harness.runner.isolation) and its
own fresh mock backends on the server's fixed backend ports (harness.runner.backends).
A scenario with `shared_server: false`, or a pool built with reuse=False, gets a server of
its own that is stopped after it, with names as written.
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from harness.ports import free_port
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

    def acquire(self, scenario: Scenario) -> Lease:
        """A started server for `scenario` (TargetError if it cannot start)."""
        shared = self.reuse and scenario.shared_server
        key = scenario.reuse_key() if shared else None
        with self._lock:
            idle = self._idle.get(key) if key is not None else None
            lease = idle.pop() if idle else None
            suffix = f"_s{next(self._counter)}" if shared else ""
        if lease is None:
            lease = Lease(self._start(scenario), key)
            with self._lock:
                self._all.append(lease)
        lease.server.suffix = suffix
        return lease

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
        with self._lock:
            leases, self._all, self._idle = list(self._all), [], {}
        if not leases:
            return
        with ThreadPoolExecutor(max_workers=min(8, len(leases))) as executor:
            list(executor.map(lambda lease: lease.server.target.stop(), leases))

    def _start(self, scenario: Scenario) -> ServerContext:
        ports = {name: free_port() for name in scenario.backends}
        target: Target = self.spec.create(Profile())
        try:
            # The profile names the backends' URLs, which depend on where the target
            # reaches them from (a container reaches the host at another address).
            host = target.backend_host
            variables = backend_variables(host, ports, scenario.backends)
            target.profile = build_profile(resolve(scenario.prosody, variables))
            target.start()
        except BaseException:
            target.stop()
            raise
        with self._lock:
            self.servers_started += 1
            self.server_info = self.server_info or target_info(target)
        return ServerContext(target, ports, host, boot_lines=len(target.log()))

    def _stop(self, lease: Lease) -> None:
        with self._lock:
            if lease in self._all:
                self._all.remove(lease)
        lease.server.target.stop()
