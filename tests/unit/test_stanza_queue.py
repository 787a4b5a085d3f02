"""StanzaQueue: what Client.receive/pending of every target are built on."""

from __future__ import annotations

import threading
import time

import pytest

from harness import stanza as stanza_xml
from harness.stanza_queue import StanzaQueue
from harness.target import ReceiveTimeout


def _queue(closed: bool = False) -> StanzaQueue:
    return StanzaQueue(lambda: "john@localhost/phone", lambda: closed)


def test_takes_the_first_match_and_leaves_the_rest_in_order():
    queue = _queue()
    for stanza_id in ("a", "b", "c"):
        queue.put(stanza_xml.parse(f'<iq type="result" id="{stanza_id}"/>'))
    assert queue.receive(lambda e: e.get("id") == "b").get("id") == "b"
    assert [e.get("id") for e in queue.pending()] == ["a", "c"]
    assert queue.receive().get("id") == "a"


def test_waits_for_a_stanza_put_from_another_thread():
    queue = _queue()
    later = threading.Timer(0.05, queue.put, [stanza_xml.parse("<message id='m'/>")])
    later.start()
    started = time.monotonic()
    assert queue.receive(timeout=2.0).get("id") == "m"
    assert time.monotonic() - started < 1.0


def test_timeout_names_the_client_and_lists_what_is_queued():
    queue = _queue()
    queue.put(stanza_xml.parse("<presence id='p'/>"))
    with pytest.raises(ReceiveTimeout) as caught:
        queue.receive(lambda e: False, timeout=0.05)
    message = str(caught.value)
    assert message.startswith("john@localhost/phone: no matching stanza within 0.05 s; queued:")
    assert 'id="p"' in message or "id='p'" in message


def test_timeout_says_when_the_stream_is_closed():
    with pytest.raises(ReceiveTimeout, match=r"\(the stream is closed\); queued:\n  \(nothing\)"):
        _queue(closed=True).receive(timeout=0.01)
