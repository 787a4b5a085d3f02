"""What a client has received and not yet taken: the one queue every Client uses.

Stanzas are put from the thread that reads them (slixmpp's loop, the sandbox's loop);
a test takes them from its own thread, by a match and within a timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from xml.etree.ElementTree import Element

from harness import stanza as stanza_xml
from harness.target import ReceiveTimeout


class StanzaQueue:
    def __init__(self, owner: Callable[[], str], is_closed: Callable[[], bool]) -> None:
        """`owner()` names the client in errors (its JID); `is_closed()` says whether its
        stream has ended, which a timeout error mentions."""
        self._owner = owner
        self._is_closed = is_closed
        self._stanzas: list[Element] = []
        self._changed = threading.Condition()

    def put(self, element: Element) -> None:
        with self._changed:
            self._stanzas.append(element)
            self._changed.notify_all()

    def wake(self) -> None:
        """Let waiting receivers look again (e.g. the stream just closed)."""
        with self._changed:
            self._changed.notify_all()

    def receive(
        self, match: Callable[[Element], bool] | None = None, timeout: float = 2.0
    ) -> Element:
        """The first queued stanza `match` accepts (any, without one), waiting up to
        `timeout` seconds; ReceiveTimeout lists what is queued."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index, element in enumerate(self._stanzas):
                    if match is None or match(element):
                        return self._stanzas.pop(index)
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            seen = [stanza_xml.tostring(e) for e in self._stanzas]
        what = "\n  ".join(seen) if seen else "(nothing)"
        closed = " (the stream is closed)" if self._is_closed() else ""
        raise ReceiveTimeout(
            f"{self._owner()}: no matching stanza within {timeout:g} s{closed}; queued:\n  {what}"
        )

    def pending(self) -> list[Element]:
        """What is queued, oldest first, without taking it."""
        with self._changed:
            return list(self._stanzas)
