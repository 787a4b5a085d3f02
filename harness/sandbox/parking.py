"""Mock backends' waits on the sandbox's clock.

A latency or hang fault of a mock backend running in this process holds a request of the
sandbox's for a set time; until it ends nothing can come back on that connection. So the
wait need not cost real time: the mock parks the request here (mock_backends' `wait_with`)
under its connection (the client port, which is the sandbox's own, and the mock's port)
with the moment on the sandbox's clock it ends. When every connection of the sandbox under way is
parked, the loop lets the clock jump to the earliest end, as it jumps to a timer
(loop.py), and the wait ends as soon as the clock reads its end, by a jump or in real time.
A mock in another process or on another machine never parks: its waits stay real.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from harness.sandbox.loop import VirtualClock

Connection = tuple[int, int]  # (client port, server port): one TCP connection on loopback
POLL_SECONDS = 0.05  # how often a parked wait looks at its backend's stop signal


class ParkingLot:
    def __init__(self, clock: VirtualClock, replan: Callable[[], None]) -> None:
        self._clock = clock
        self._replan = replan  # a request parked: whoever waits on the loop plans again
        self._moved = threading.Condition()
        # (client port, server port) -> end of its wait, on the clock
        self._ends: dict[Connection, float] = {}

    def wait(self, seconds: float, stopping: threading.Event, connection: Connection) -> None:
        """Hold the request on `connection` for `seconds` of the clock (the mock's
        waiter; returns early once `stopping` is set)."""
        end = self._clock.now() + seconds
        with self._moved:
            self._ends[connection] = end
        self._replan()
        try:
            while not stopping.is_set():
                left = self._clock.real_seconds_until(end)
                if left is None or left <= 0:
                    return
                with self._moved:
                    self._moved.wait(min(left, POLL_SECONDS))
        finally:
            with self._moved:
                if self._ends.get(connection) == end:
                    del self._ends[connection]

    def clock_moved(self) -> None:
        """The clock jumped: the waits it reached end now."""
        with self._moved:
            self._moved.notify_all()

    def earliest_end(self, connections: Iterable[Connection]) -> float | None:
        """When the first of these connections' waits ends, if every one is parked
        (None: one of them is not, so its answer may come at any moment)."""
        with self._moved:
            ends = [self._ends.get(connection) for connection in connections]
        if not ends or any(end is None for end in ends):
            return None
        return min(ends)
