"""Fault injection on the protocol routes of every kind."""

from __future__ import annotations

import time

import pytest
import requests

from mock_backends import start_backend

PROTOCOL_REQUESTS = {
    "roster": ("GET", "/contacts/john", {}),
    "muc_auth": ("GET", "/auth", {"params": {"userJID": "a@b", "mucJID": "r@c"}}),
    "rest_callback": ("POST", "/stanzas", {"json": {"kind": "message", "body": "hi"}}),
}


@pytest.fixture(params=sorted(PROTOCOL_REQUESTS))
def backend_and_call(request, mock_backend):
    backend = mock_backend(request.param)
    method, path, kwargs = PROTOCOL_REQUESTS[request.param]

    def call(timeout=5.0):
        return requests.request(method, backend.url + path, timeout=timeout, **kwargs)

    return backend, call


def test_status_fault(backend_and_call):
    backend, call = backend_and_call
    backend.add_fault(status=500)
    response = call()
    assert response.status_code == 500
    assert "fault injected" in response.json()["error"]
    assert backend.journal()[-1]["fault"] == {"status": 500}


def test_malformed_and_empty_body_faults(backend_and_call):
    backend, call = backend_and_call
    backend.add_fault(body='{"allowed": tru', times=1)
    backend.add_fault(body="")
    malformed = call()
    assert (malformed.status_code, malformed.text) == (200, '{"allowed": tru')
    empty = call()
    assert (empty.status_code, empty.content) == (200, b"")


def test_latency_fault_delays_the_normal_answer(backend_and_call):
    backend, call = backend_and_call
    backend.add_fault(latency=0.3)
    started = time.monotonic()
    response = call()
    assert time.monotonic() - started >= 0.3
    assert response.status_code in (200, 202)


def test_drop_fault_closes_without_an_answer(backend_and_call):
    backend, call = backend_and_call
    backend.add_fault(drop=True)
    with pytest.raises(requests.ConnectionError):
        call()
    assert backend.journal()[-1]["status"] is None


def test_hang_fault_outlasts_the_client_timeout_and_stop_stays_prompt(backend_and_call):
    backend, call = backend_and_call
    backend.add_fault(hang=60)
    with pytest.raises(requests.Timeout):
        call(timeout=0.3)
    started = time.monotonic()
    backend.stop()
    assert time.monotonic() - started < 2


def test_faults_are_selected_by_path_and_method_and_cleared(mock_backend):
    backend = mock_backend("roster")
    backend.add_fault(path="/contacts/j*", status=503)
    backend.add_fault(path="/contacts/aaron", method="POST", status=418)
    assert requests.get(backend.url + "/contacts/john", timeout=5).status_code == 503
    assert requests.get(backend.url + "/contacts/aaron", timeout=5).status_code == 200
    backend.clear_faults()
    assert requests.get(backend.url + "/contacts/john", timeout=5).status_code == 200


def test_times_limits_a_fault(mock_backend):
    backend = mock_backend("roster")
    backend.add_fault(status=502, times=2)
    statuses = [
        requests.get(backend.url + "/contacts/john", timeout=5).status_code for _ in range(3)
    ]
    assert statuses == [502, 502, 200]
    assert backend.faults() == []


def test_faults_never_touch_the_control_api(mock_backend):
    backend = mock_backend("roster", {"faults": [{"drop": True}]})
    assert requests.get(backend.url + "/_mock/faults", timeout=5).json() == [{"drop": True}]
    assert requests.delete(backend.url + "/_mock/faults", timeout=5).status_code == 200
    assert requests.get(backend.url + "/contacts/john", timeout=5).status_code == 200


@pytest.mark.parametrize(
    "fault, message",
    [
        ({}, "give at least one of"),
        ({"latency": -1}, "latency: must be between 0"),
        ({"hang": 10_000}, "hang: must be between 0 and 600"),
        ({"status": 700}, "status: expected an HTTP status code"),
        ({"drop": "yes"}, "drop: expected true or false"),
        ({"drop": True, "status": 500}, "no status or body"),
        ({"drop": True, "hang": 1}, "exclude each other"),
        ({"path": "contacts"}, "starting with '/'"),
        ({"slow": True}, "unknown key(s) slow"),
        ({"status": 500, "times": 0}, "times: expected a positive integer"),
    ],
)
def test_bad_faults_are_refused_with_a_message(fault, message):
    with pytest.raises(ValueError) as caught:
        start_backend("roster", {"faults": [fault]})
    assert message in str(caught.value)
    assert "faults[0]" in str(caught.value)
