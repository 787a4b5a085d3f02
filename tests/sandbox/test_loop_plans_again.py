"""A waiter on the sandbox's loop never sleeps on an out-of-date plan.

The loop asks whether anything can still arrive from outside (a mock's answer) and, if
not, lets the clock jump. A mock that parks its request just after being asked pokes the
loop; the waiter must plan again rather than sleep in real time on the answer it had
(before, it did: a 1 s module timeout beside a hanging webhook cost 1 s of real time, in
about one run in fifty)."""

from __future__ import annotations

import time

from harness.sandbox.loop import Loop, VirtualClock


class ParksJustAfterAsked:
    """Loop hooks with one connection under way, whose mock parks its request for a
    minute right after the loop's first question (and pokes the loop, as parking does)."""

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.parked_until: float | None = None

    def publish_clock(self, now: float) -> None:
        pass

    def run_due_timers(self, now: float) -> float | None:
        return None

    def quiet_until(self) -> float | None:
        if self.parked_until is None:
            self.parked_until = self.loop.clock.now() + 60
            self.loop.poke()
            return None  # the answer given before the park: "anything may come"
        return self.parked_until

    def clock_jumped(self) -> None:
        pass

    def report(self, message: str) -> None:
        raise AssertionError(message)


def test_a_mock_parking_while_the_loop_plans_lets_the_clock_jump():
    loop = Loop(VirtualClock(realtime=True))
    loop.start(ParksJustAfterAsked(loop))
    try:
        clock, real = loop.clock.now(), time.monotonic()
        assert loop.wait_for(lambda: None, 5.0) is None
        real_seconds, clock_seconds = time.monotonic() - real, loop.clock.now() - clock
    finally:
        loop.close()
    assert clock_seconds >= 5.0
    assert real_seconds < 2.5, f"waited {real_seconds:.2f} s of real time for 5 s of clock"
