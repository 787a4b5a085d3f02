"""The fault kinds a fault matrix needs beyond latency, status, body, drop and hang: an
answer cut short by a reset, a huge answer and a redirect loop, on every kind of backend."""

from __future__ import annotations

import http.client
import json
import socket

import pytest
import requests

from mock_backends import start_backend
from mock_backends.faults import REDIRECT_HOP_PARAMETER, Fault, padding_document

PROTOCOL_REQUESTS = {
    "roster": ("GET", "/contacts/john", None, {}),
    "muc_auth": ("GET", "/auth?userJID=a@b&mucJID=r@c", None, {}),
    "rest_callback": (
        "POST",
        "/stanzas",
        b'{"kind": "message", "body": "hi"}',
        {"Content-Type": "application/json"},
    ),
}


@pytest.fixture(params=sorted(PROTOCOL_REQUESTS))
def kind(request):
    return request.param


def exchange(backend, kind: str, timeout: float = 5.0) -> tuple[bytes, BaseException | None]:
    """Send the kind's protocol request on a raw socket: what arrived, and how it ended
    (None: an orderly close)."""
    method, target, body, headers = PROTOCOL_REQUESTS[kind]
    lines = [f"{method} {target} HTTP/1.1", "Host: x", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")
    received = b""
    with socket.create_connection((backend.host, backend.port), timeout=timeout) as sock:
        sock.sendall(request)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError as exc:
            return received, exc
    return received, None


def test_reset_sends_half_the_normal_answer_then_resets(kind):
    with start_backend(kind) as backend:
        normal, ended = exchange(backend, kind)
        assert ended is None
        head, _, full_body = normal.partition(b"\r\n\r\n")
        backend.add_fault(reset=True, times=1)
        cut, ended = exchange(backend, kind)
        assert isinstance(ended, ConnectionResetError)
        if not full_body:  # an answer without a body is cut in its head
            assert 0 < len(cut) < len(head) and normal.startswith(cut[:12])
        else:
            cut_head, _, cut_body = cut.partition(b"\r\n\r\n")
            assert cut_head.split(b"\r\n")[0] == head.split(b"\r\n")[0]
            assert b"Content-Length: %d" % len(full_body) in cut_head
            assert cut_body == full_body[: len(full_body) // 2]
        entry = backend.journal()[-1]
        assert entry["fault"] == {"reset": True, "times": 1}
        assert entry["status"] == int(head.split()[1])
        # The fault is gone: the next answer is whole again.
        again, ended = exchange(backend, kind)
        assert ended is None and again.partition(b"\r\n\r\n")[2] == full_body


def test_reset_cuts_an_answer_the_fault_describes():
    with start_backend("roster") as backend:
        backend.add_fault(status=503, body='{"error": "maintenance window"}', reset=True)
        received, ended = exchange(backend, "roster")
        assert isinstance(ended, ConnectionResetError)
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 ")
        assert body == b'{"error": "maintenance window"}'[:15]
        with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
            requests.get(backend.url + "/contacts/john", timeout=5)


def test_size_answers_a_json_document_of_exactly_that_many_bytes(kind):
    with start_backend(kind) as backend:
        backend.add_fault(size=50 * 1024 * 1024, times=1)
        method, target, body, headers = PROTOCOL_REQUESTS[kind]
        response = requests.request(
            method, backend.url + target, data=body, headers=headers, timeout=30
        )
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json"
        assert len(response.content) == 50 * 1024 * 1024
        assert json.loads(response.content) == ["x" * (50 * 1024 * 1024 - 4)]
        assert backend.journal()[-1]["fault"] == {"size": 52428800, "times": 1}


def test_size_keeps_a_status_and_the_smallest_is_four_bytes():
    assert padding_document(4) == b'[""]'
    with start_backend("muc_auth") as backend:
        backend.add_fault(size=1000, status=500)
        response = requests.get(backend.url + "/auth", timeout=5)
        assert (response.status_code, len(response.content)) == (500, 1000)


def test_redirect_points_back_at_the_same_path_forever(kind):
    with start_backend(kind) as backend:
        backend.add_fault(redirect=True)
        method, target, body, headers = PROTOCOL_REQUESTS[kind]
        connection = http.client.HTTPConnection(backend.host, backend.port, timeout=5)
        locations = []
        for _ in range(3):
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            assert response.status == 302 and response.read() == b""
            target = response.getheader("Location")
            locations.append(target)
        connection.close()
        path = PROTOCOL_REQUESTS[kind][1].partition("?")[0]
        assert all(location.startswith(path + "?") for location in locations)
        assert [
            f"{REDIRECT_HOP_PARAMETER}={hop}" in location
            for hop, location in enumerate(locations, 1)
        ] == [True, True, True]
        # A client that follows redirects gives up: it is a loop.
        with pytest.raises(requests.TooManyRedirects):
            requests.request(
                method,
                backend.url + PROTOCOL_REQUESTS[kind][1],
                data=body,
                headers=headers,
                timeout=5,
            )


def test_redirect_keeps_the_other_query_parameters():
    with start_backend("muc_auth") as backend:
        backend.add_fault(redirect=True, times=1)
        response = requests.get(
            backend.url + "/auth",
            params={"userJID": "a@b", "x": "1 2"},
            allow_redirects=False,
            timeout=5,
        )
        location = response.headers["Location"]
        assert location.startswith("/auth?") and "userJID=a%40b" in location
        assert "x=1+2" in location and f"{REDIRECT_HOP_PARAMETER}=1" in location


def test_the_new_kinds_combine_with_latency_and_are_listed():
    with start_backend("roster", {"faults": [{"latency": 0.01, "size": 100}]}) as backend:
        assert backend.faults() == [{"latency": 0.01, "size": 100}]
        assert len(requests.get(backend.url + "/contacts/x", timeout=5).content) == 100
        response = requests.post(backend.url + "/_mock/faults", json={"redirect": True}, timeout=5)
        assert response.status_code == 201 and response.json()[-1] == {"redirect": True}


@pytest.mark.parametrize(
    "fault, message",
    [
        ({"size": 3}, "size: expected a number of bytes between 4"),
        ({"size": True}, "size: expected a number of bytes"),
        ({"size": 10, "body": "x"}, "give body or size, not both"),
        ({"reset": "yes"}, "reset: expected true or false"),
        ({"drop": True, "reset": True}, "neither reset nor redirected"),
        ({"hang": 1, "redirect": True}, "neither reset nor redirected"),
        ({"redirect": True, "status": 301}, "a redirect has its own status"),
        ({"redirect": True, "reset": True}, "a redirect has its own status"),
        ({"drop": True, "size": 10}, "no status or body"),
    ],
)
def test_contradictions_are_refused_with_a_message(fault, message):
    with pytest.raises(ValueError) as caught:
        Fault.from_mapping(fault)
    assert message in str(caught.value)


def test_old_faults_read_and_list_as_before():
    fault = Fault.from_mapping({"status": 500, "times": 2})
    assert fault.to_dict() == {"status": 500, "times": 2}
    assert fault.answer("/p", "") == (
        500,
        [("Content-Type", "application/json")],
        b'{"error": "fault injected by the mock: status 500"}',
    )
