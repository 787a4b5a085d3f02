"""The WSGI server under every backend: HTTP/1.1 details, limits and bounded stop."""

from __future__ import annotations

import http.client
import socket
import threading
import time

import pytest

from mock_backends import http_handler, start_backend
from mock_backends.http_server import BackgroundServer


def raw_exchange(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


def test_port_zero_reports_the_real_port(roster_backend):
    assert roster_backend.port > 0
    assert roster_backend.url == f"http://127.0.0.1:{roster_backend.port}"


def test_keep_alive_serves_many_requests_on_one_connection(roster_backend):
    roster_backend.set_roster("john", {"marie@localhost": {}})
    conn = http.client.HTTPConnection("127.0.0.1", roster_backend.port, timeout=5)
    for _ in range(50):
        conn.request("GET", "/contacts/john")
        response = conn.getresponse()
        assert response.status == 200 and response.read() == b'{"marie@localhost": {}}'
        assert response.getheader("Date") and response.getheader("Server")
    conn.close()


def test_small_answers_are_not_held_by_delayed_ack(roster_backend):
    conn = http.client.HTTPConnection("127.0.0.1", roster_backend.port, timeout=5)
    conn.request("GET", "/contacts/john")
    conn.getresponse().read()
    started = time.perf_counter()
    for _ in range(20):
        conn.request("GET", "/contacts/john")
        conn.getresponse().read()
    # A 40 ms delayed-ACK stall on any of them would exceed this by far.
    assert (time.perf_counter() - started) / 20 < 0.02
    conn.close()


def test_chunked_request_body(rest_callback_backend):
    stanza = b"<message><body>chunked</body></message>"
    request = (
        b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/xmpp+xml\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + b"%x\r\n%s\r\n0\r\n\r\n"
        % (len(stanza), stanza)
    )
    answer = raw_exchange(rest_callback_backend.port, request)
    assert answer.startswith(b"HTTP/1.1 202")
    assert rest_callback_backend.journal()[-1]["body"] == stanza.decode()


def test_expect_100_continue(rest_callback_backend):
    body = b'{"kind": "message"}'
    with socket.create_connection(("127.0.0.1", rest_callback_backend.port), timeout=5) as sock:
        sock.sendall(
            b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(body)
        )
        assert sock.recv(1024).startswith(b"HTTP/1.1 100")
        sock.sendall(body)
        assert sock.recv(1024).startswith(b"HTTP/1.1 202")


def test_http_1_0_connection_is_closed_after_the_answer(roster_backend):
    answer = raw_exchange(roster_backend.port, b"GET /contacts/x HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"{}")


def test_head_has_no_body(roster_backend):
    answer = raw_exchange(
        roster_backend.port, b"HEAD /contacts/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\n")


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"POST /hook HTTP/1.1\r\nContent-Length: nope\r\n\r\n", b"400"),
        (b"POST /hook HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b"400"),
        (b"GET / HTTP/1.1 EXTRA\r\n\r\n", b"400"),
        (b"GET / HTTP/9.9\r\n\r\n", b"505"),
        (b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nX: 1\r\n folded\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 101 + b"\r\n", b"431"),
    ],
)
def test_malformed_requests_get_400(rest_callback_backend, request_bytes, status):
    answer = raw_exchange(rest_callback_backend.port, request_bytes)
    assert answer.split(b" ")[1] == status
    assert b'{"error": ' in answer


def test_oversized_body_gets_413(rest_callback_backend, monkeypatch):
    monkeypatch.setattr(http_handler, "MAX_BODY_BYTES", 10)
    answer = raw_exchange(
        rest_callback_backend.port, b"POST /hook HTTP/1.1\r\nContent-Length: 11\r\n\r\n0123456789a"
    )
    assert answer.startswith(b"HTTP/1.1 413")


def test_an_application_error_is_a_500_not_a_dead_server():
    def broken_app(environ, start_response):
        raise RuntimeError("boom")

    server = BackgroundServer(broken_app)
    try:
        answer = raw_exchange(server.port, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 500")
        again = raw_exchange(server.port, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert again.startswith(b"HTTP/1.1 500")
    finally:
        server.stop()


def test_stop_is_prompt_with_idle_keep_alive_connections_and_idempotent():
    backend = start_backend("roster")
    conns = []
    for _ in range(5):
        conn = http.client.HTTPConnection("127.0.0.1", backend.port, timeout=5)
        conn.request("GET", "/contacts/x")
        conn.getresponse().read()
        conns.append(conn)
    started = time.monotonic()
    backend.stop()
    backend.stop()
    assert time.monotonic() - started < 1.0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", backend.port), timeout=1).close()


def test_state_is_consistent_under_concurrent_requests_and_changes(roster_backend):
    errors: list[str] = []

    def reader() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", roster_backend.port, timeout=5)
        for _ in range(100):
            conn.request("GET", "/contacts/john")
            body = conn.getresponse().read()
            if body not in (b"{}", b'{"a@l": {}}', b'{"b@l": {}}'):
                errors.append(body.decode())
        conn.close()

    readers = [threading.Thread(target=reader) for _ in range(4)]
    for thread in readers:
        thread.start()
    for index in range(200):
        roster_backend.set_roster("john", {"a@l" if index % 2 else "b@l": {}})
    for thread in readers:
        thread.join(10)
    assert errors == []
    assert len(roster_backend.journal()) == 400


def test_a_busy_port_is_an_os_error(roster_backend):
    with pytest.raises(OSError):
        start_backend("roster", port=roster_backend.port)


def test_a_failing_journal_listener_does_not_fail_the_request(roster_backend):
    seen = []

    def broken(entry):
        seen.append(entry["path"])
        raise BrokenPipeError("stdout closed")

    roster_backend.on_request(broken)
    conn = http.client.HTTPConnection("127.0.0.1", roster_backend.port, timeout=5)
    conn.request("GET", "/contacts/john")
    assert conn.getresponse().status == 200
    assert seen == ["/contacts/john"]
