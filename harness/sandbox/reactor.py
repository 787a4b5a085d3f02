"""The one thread every sandbox of the process shares: it watches their sockets, and runs
what a sandbox's loop has to run when none of its callers is there to.

A thread per sandbox (or two: sockets, and timers) would be started and joined for every
sandbox; on a busy machine each of those hand-overs waits for the scheduler. This one is
started once, on first use, and lives as long as the process (a daemon).

* `register(sock, on_ready)`: call `on_ready()` on this thread whenever `sock` is
  readable; `retire(sock)` unregisters and closes it here, so that a descriptor number
  is never reused while the selector still watches it.
* `drain_soon(loop)`: run the loop's queued events (harness.sandbox.loop); `wake_at(when,
  loop)`: ... and its timers, at a real (monotonic) time.
"""

from __future__ import annotations

import heapq
import itertools
import os
import selectors
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import Protocol


class Drainable(Protocol):
    def drain_from_reactor(self) -> None: ...


class Reactor:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._registrations: list[tuple[socket.socket, Callable[[], None]]] = []
        self._retired: list[socket.socket] = []
        self._drains: dict[int, weakref.ref] = {}  # by id: loops to drain this round
        self._timers: list[tuple[float, int, weakref.ref]] = []
        self._sequence = itertools.count()
        self._woken = False
        self._thread = threading.Thread(target=self._run, name="sandbox-reactor", daemon=True)
        self._thread.start()

    # -- from any thread --------------------------------------------------------------

    def register(self, sock: socket.socket, on_ready: Callable[[], None]) -> None:
        with self._lock:
            self._registrations.append((sock, on_ready))
        self._wake()

    def retire(self, sock: socket.socket) -> None:
        with self._lock:
            self._retired.append(sock)
        self._wake()

    def drain_soon(self, loop: Drainable) -> None:
        with self._lock:
            self._drains[id(loop)] = weakref.ref(loop)
        if threading.current_thread() is not self._thread:
            self._wake()  # on this thread, it drains at the end of the round anyway

    def wake_at(self, when: float, loop: Drainable) -> None:
        with self._lock:
            first = not self._timers or when < self._timers[0][0]
            heapq.heappush(self._timers, (when, next(self._sequence), weakref.ref(loop)))
        if first and threading.current_thread() is not self._thread:
            self._wake()

    def _wake(self) -> None:
        with self._lock:
            if self._woken:
                return
            self._woken = True
        self._wake_w.send(b"w")

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                self._round()
            except Exception:  # noqa: BLE001 - the thread must outlive any one sandbox's bug
                time.sleep(0.001)

    def _round(self) -> None:
        with self._lock:
            registrations, self._registrations = self._registrations, []
            retired, self._retired = self._retired, []
            timeout = None
            if self._timers:
                timeout = max(self._timers[0][0] - time.monotonic(), 0.0)
        for sock in retired:
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError, OSError):
                pass
            sock.close()
        for sock, on_ready in registrations:
            if sock.fileno() >= 0:
                try:
                    self._selector.register(sock, selectors.EVENT_READ, on_ready)
                except (KeyError, ValueError, OSError):
                    pass
        for key, _mask in self._selector.select(timeout):
            if key.data is None:
                try:
                    while self._wake_r.recv(4096):
                        pass
                except BlockingIOError:
                    pass
                with self._lock:
                    # Only now: a wake-up asked for before this point is either this
                    # round's or sees what it asked for taken at the next round's start.
                    self._woken = False
            else:
                key.data()
        now = time.monotonic()
        with self._lock:
            while self._timers and self._timers[0][0] <= now:
                _when, _n, ref = heapq.heappop(self._timers)
                self._drains[id(ref())] = ref
            drains, self._drains = list(self._drains.values()), {}
        for ref in drains:
            loop = ref()
            if loop is not None:
                try:
                    loop.drain_from_reactor()
                except Exception:  # noqa: BLE001 - reported by the loop; others go on
                    pass


_REACTOR: Reactor | None = None
_REACTOR_LOCK = threading.Lock()


def reactor() -> Reactor:
    """The process' reactor, started on first use."""
    global _REACTOR
    with _REACTOR_LOCK:
        if _REACTOR is None:
            _REACTOR = Reactor()
        return _REACTOR


def _forget_after_fork() -> None:
    """A forked child (harness.runner.processes) has none of the parent's threads: it
    starts a reactor of its own on first use."""
    global _REACTOR, _REACTOR_LOCK
    _REACTOR = None
    _REACTOR_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
