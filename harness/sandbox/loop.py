"""The sandbox's loop: one Lua state, used by one thread at a time, on a virtual clock.

Whatever reaches Lua - a test's call, a socket event, a due timer - has the state to
itself and runs in order:

* `run` calls a function on the caller's own thread (no hand-over to another thread and
  back). What arrives meanwhile is queued and run right after it, with the timers then
  due, before `run` returns: a completion never runs inside the call that started it.
* `post` queues an event from any thread (the socket threads). When no call is under way
  and nobody waits, the process' reactor thread (reactor.py) runs it, and fires timers
  that fall due while the clock follows real time.
* `wait_for` waits for a condition, taking the events itself as they come. On a running
  clock, when nothing can arrive from outside (no connection of Prosody's under way,
  nothing queued), only a timer can change anything: the clock jumps to it instead of
  waiting for it. A connection whose peer is a mock backend of this process holding the
  request on the clock (parking.py) cannot bring anything before that hold ends: the
  clock jumps to the end of it, or to a timer before.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol, TypeVar

from harness.sandbox.reactor import reactor
from harness.target import TargetError

CALL_TIMEOUT = 10.0  # how long a call waits for the state before giving up
EXPIRED = -1.0
T = TypeVar("T")


class VirtualClock:
    """Virtual time, in seconds since the epoch; it starts at the real time.

    A still clock (realtime=False, for module unit tests) moves only when told to
    (`jump`). A running one (realtime=True, SandboxTarget) also follows real time, so a
    timer fires while real seconds pass, as on a real server; a jump moves it ahead for
    good, real time carrying on from there."""

    def __init__(self, realtime: bool) -> None:
        self.realtime = realtime
        self._offset = time.time() - time.monotonic()
        self._now = time.monotonic() + self._offset

    def now(self) -> float:
        if self.realtime:
            return max(self._now, time.monotonic() + self._offset)
        return self._now

    def jump(self, to: float) -> None:
        """Move ahead to `to` (never back)."""
        now = self.now()
        if to > now:
            self._offset += to - now
            self._now = to

    def real_seconds_until(self, when: float) -> float | None:
        """Real seconds until the clock reads `when` by itself (None: it never will)."""
        return max(0.0, when - self.now()) if self.realtime else None


class LoopHooks(Protocol):
    """What the loop needs of the Lua side (called with the state held)."""

    def publish_clock(self, now: float) -> None: ...

    def run_due_timers(self, now: float) -> float | None:
        """Move the Lua clock to `now`, run every timer then due; return when the next
        one is due (None: none)."""

    def quiet_until(self) -> float | None:
        """Until when nothing can arrive from outside: math.inf when no connection is
        under way, the end of the first mock wait when every one under way waits on a
        mock parked on the clock (parking.py), None when something may come any moment."""

    def clock_jumped(self) -> None:
        """The clock jumped ahead (parked waits it reached may end)."""

    def report(self, message: str) -> None:
        """An event failed: log it where the scenario sees it."""


class Loop:
    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self._state = threading.Lock()  # whoever holds it may use the Lua state
        self._owner: int | None = None
        self._mutex = threading.Lock()  # for the queue and what waiters wait on
        self._waiter_wakeup = threading.Condition(self._mutex)
        self._queue: deque = deque()
        self._waiters = 0
        self._generation = 0  # counts the drains, so a waiter knows it missed none
        self._pokes = 0  # counts pokes, so a waiter knows its plan is not out of date
        self._next_due: float | None = None  # the next timer, as the last drain saw it
        self._wake_due: float | None = None  # the timer the reactor will wake us for
        self._closed = False
        self._hooks: LoopHooks | None = None
        self._reactor = reactor()

    def start(self, hooks: LoopHooks) -> None:
        self._hooks = hooks

    def close(self) -> None:
        """No more calls or events (what is queued is dropped). Returns once nobody uses
        the state any more (the reactor may be finishing a round of this loop's)."""
        with self._mutex:
            self._closed = True
            self._waiter_wakeup.notify_all()
        if self._owner != threading.get_ident() and self._state.acquire(timeout=CALL_TIMEOUT):
            self._state.release()

    # -- calls and events -----------------------------------------------------------

    def run(self, function: Callable[..., T], *args, timeout: float = CALL_TIMEOUT) -> T:
        """`function(*args)` with the state held, then what arrived meanwhile."""
        if self._owner == threading.get_ident():
            return function(*args)  # from within: Lua calling back, or a drained event
        self._enter(timeout)
        try:
            return function(*args)
        finally:
            self._leave()

    def post(self, function: Callable[..., object], *args) -> None:
        """Queue `function(*args)` to run with the state held (from any thread)."""
        with self._mutex:
            self._queue.append((function, args))
            if self._owner == threading.get_ident():
                return  # the owner drains before it leaves
            if self._waiters:
                self._waiter_wakeup.notify_all()
                return
        self._reactor.drain_soon(self)

    def _enter(self, timeout: float | None) -> None:
        if self._closed:
            raise TargetError("the sandbox is not started")
        if not self._state.acquire(timeout=-1 if timeout is None else timeout):
            raise TargetError(f"the sandbox did not answer within {timeout:g} s")
        if self._closed:
            self._state.release()
            raise TargetError("the sandbox is not started")
        self._owner = threading.get_ident()
        self._hooks.publish_clock(self.clock.now())

    def _leave(self) -> None:
        """Run what arrived and the timers now due, then let go of the state. What
        arrives after the last look is the reactor's (or a waiting thread's)."""
        try:
            self._drain()
        finally:
            self._owner = None
            self._state.release()
            with self._mutex:
                self._generation += 1
                if self._waiters:
                    self._waiter_wakeup.notify_all()
                unattended = not self._waiters and not self._closed
                late = unattended and bool(self._queue)
            if late:
                self._reactor.drain_soon(self)
            if unattended:
                self._wake_for_timer()

    def _wake_for_timer(self) -> None:
        """On a running clock, have the reactor come back when the next timer is due."""
        due = self._next_due
        if due is None or not self.clock.realtime:
            return
        with self._mutex:
            pending = self._wake_due
            if pending is not None and self.clock.now() < pending <= due:
                return  # a wake-up is coming, in time
            self._wake_due = due
        self._reactor.wake_at(time.monotonic() + self.clock.real_seconds_until(due), self)

    def poke(self) -> None:
        """What may arrive from outside changed (a mock parked a request): a waiter
        plans again."""
        with self._mutex:
            self._pokes += 1
            if self._waiters:
                self._waiter_wakeup.notify_all()

    def drain_from_reactor(self) -> None:
        """The reactor's turn: run what is queued and due, unless a caller or a waiter is
        there to (it will)."""
        if self._closed or self._waiters:
            return
        if not self._state.acquire(blocking=False):
            return  # the holder drains before it leaves, and hands back what comes late
        if self._closed:
            self._state.release()
            return
        self._owner = threading.get_ident()
        self._hooks.publish_clock(self.clock.now())
        self._leave()

    def _drain(self) -> bool:
        """Run what is queued and the timers due; whether anything ran."""
        hooks = self._hooks
        ran = False
        while True:
            while self._queue:
                function, args = self._queue.popleft()
                ran = True
                try:
                    function(*args)
                except BaseException as exc:  # an event has no caller to hand it to
                    hooks.report(f"sandbox event failed: {exc}")
            due = self._next_due
            ran = ran or (due is not None and due <= self.clock.now())
            self._next_due = hooks.run_due_timers(self.clock.now())
            if not self._queue:
                return ran

    # -- waiting ----------------------------------------------------------------------

    def wait_for(
        self, ready: Callable[[], T | None], seconds: float, recheck: float | None = None
    ) -> T | None:
        """The first answer of `ready()` that is not None, or None once `seconds` have
        passed (after a last try): on the clock if it runs, else in real time (a still
        clock moves only when told). Events are taken as they come, by this thread, and
        `ready()` asked after each; `recheck`: also at least every so many real seconds
        (for what happens outside the sandbox)."""
        if self._owner == threading.get_ident():
            raise TargetError("cannot wait for the sandbox from inside one of its calls")
        realtime = self.clock.realtime
        deadline = (self.clock.now() if realtime else time.monotonic()) + seconds
        while True:
            with self._mutex:
                pokes = self._pokes  # before the plan asks the outside how quiet it is
            pause = self.run(self._plan, deadline)
            with self._mutex:
                generation = self._generation
            # Not counted as a waiter while asking: ready() may itself need the reactor
            # (an HTTP request to the sandbox, say).
            found = ready()
            if found is not None or pause == EXPIRED:
                return found
            if pause <= 0:
                continue
            if recheck is not None:
                pause = min(pause, recheck)
            with self._mutex:
                if (
                    self._queue
                    or self._closed
                    or self._generation != generation
                    or self._pokes != pokes
                ):
                    continue
                self._waiters += 1  # events now wake this thread, which takes them
                try:
                    self._waiter_wakeup.wait(pause)
                finally:
                    self._waiters -= 1

    def _plan(self, deadline: float) -> float:
        """With the state held: EXPIRED, 0 (look again), or how many real seconds to wait
        for something to arrive."""
        if self._drain():
            return 0.0  # what ran may be what the waiter waits for: it looks before a jump
        if not self.clock.realtime:
            left = deadline - time.monotonic()
            return EXPIRED if left <= 0 else left
        now = self.clock.now()
        if now >= deadline:
            return EXPIRED
        until = deadline if self._next_due is None else min(self._next_due, deadline)
        quiet = self._hooks.quiet_until()
        with self._mutex:
            # Asked after the outside: what it reported done is queued by now.
            if self._queue:
                return 0.0
        if quiet is None or quiet <= now:
            return max(until - now, 0.001)  # the clock keeps pace with real time meanwhile
        until = min(until, quiet)
        self.clock.jump(until)
        self._hooks.clock_jumped()
        self._next_due = self._hooks.run_due_timers(until)  # at their time, to the microsecond
        self._drain()
        return 0.0
