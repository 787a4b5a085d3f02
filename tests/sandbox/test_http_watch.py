"""What an outgoing connection still waits for, from the HTTP framing on the socket: an
idle kept-alive connection lets the sandbox's clock skip ahead, an unanswered request
does not."""

from __future__ import annotations

import pytest

from harness.sandbox.http_watch import HttpWatch

GET = b"GET /can-join?user=a HTTP/1.1\r\nHost: x\r\n\r\n"


def _answer(body: bytes = b'{"allowed": true}', status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body


def test_a_request_waits_until_its_answer_is_complete():
    watch = HttpWatch()
    assert not watch.waiting
    watch.sent(GET)
    assert watch.waiting
    answer = _answer()
    for index in range(len(answer) - 1):  # byte by byte: still waiting until the last
        watch.received(answer[index : index + 1])
        assert watch.waiting
    watch.received(answer[-1:])
    assert not watch.waiting
    watch.sent(GET)  # the kept-alive connection is used again
    assert watch.waiting
    watch.received(_answer(b""))
    assert not watch.waiting


def test_a_body_written_apart_continues_the_request():
    watch = HttpWatch()
    watch.sent(b"POST /hook HTTP/1.1\r\nContent-Length: 4\r\n\r\n")
    watch.sent(b"ping")
    assert watch.waiting and not watch.opaque
    watch.received(_answer(b"pong", b"201 Created"))
    assert not watch.waiting


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 100 Continue\r\n\r\n" + _answer(),
        b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nab\r\n\r\n3;x=1\r\ncde\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nTrailer: t\r\n\r\n",
    ],
)
def test_framings_end_where_http_says(answer):
    watch = HttpWatch()
    watch.sent(GET)
    watch.received(answer[:-1])
    assert watch.waiting
    watch.received(answer[-1:])
    assert not watch.waiting


def test_a_head_answer_has_no_body_and_pipelined_answers_count_one_by_one():
    watch = HttpWatch()
    watch.sent(b"HEAD / HTTP/1.1\r\n\r\n")
    watch.sent(GET)
    watch.received(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n")  # HEAD: no body
    assert watch.waiting  # the GET is not answered yet
    watch.received(_answer())
    assert not watch.waiting


def test_what_ends_only_with_the_connection_or_is_not_http_waits_while_open():
    until_close = HttpWatch()
    until_close.sent(GET)
    until_close.received(b"HTTP/1.0 200 OK\r\n\r\nsome body")
    assert until_close.waiting
    other = HttpWatch()
    other.sent(b"<stream:stream>")
    assert other.opaque and other.waiting
    garbage = HttpWatch()
    garbage.sent(GET)
    garbage.received(b"SSH-2.0-OpenSSH\r\n")
    assert garbage.opaque and garbage.waiting
