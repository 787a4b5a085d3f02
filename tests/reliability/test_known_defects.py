"""The defects the fuzzers and the fault matrix found. Those not fixed here (in Prosody
itself, upstream) are each the test they fail (a strict xfail with the reason): when one is
fixed its test passes, the xfail turns into a failure, and the entry in
harness.reliability.known_defects can go. Those fixed in our modules stay as plain tests."""

from __future__ import annotations

import json
import time

import pytest
from reliability_settings import require_prosody

from harness.profile import Profile, VirtualHostProfile
from harness.reliability.known_defects import KNOWN_DEFECTS
from harness.reliability.matrix_actions import expectation, join, login, refresh_many
from harness.reliability.matrix_faults import FAULTS_BY_NAME
from harness.reliability.matrix_rigs import ResponsivenessProbe, muc_rig, roster_rig
from harness.reliability.raw_http import ANSWERED, CLOSED, RESET, exchange
from harness.targets.prosody import ProsodyTarget
from mock_backends import start_backend

pytestmark = pytest.mark.prosody
SUMMARY = {defect.id: defect.summary for defect in KNOWN_DEFECTS}


def xfail(defect: str, strict: bool = True):
    return pytest.mark.xfail(reason=f"{defect}: {SUMMARY[defect]}", strict=strict)


@pytest.fixture(params=["0.12", "13"])
def server(request):
    require_prosody(request.param)
    with start_backend("roster") as roster:
        profile = Profile(
            hosts={
                "localhost": VirtualHostProfile(
                    "localhost",
                    modules_enabled=["http_roster_admin"],
                    modules_disabled=["roster"],
                    options={
                        "http_roster_url": roster.url + "/contacts/%s",
                        "storage": {"roster": "memory"},
                    },
                )
            }
        )
        target = ProsodyTarget(profile, prosody=request.param)
        target.start()
        try:
            yield target
        finally:
            target.stop()


def new_errors(target: ProsodyTarget, seen: int) -> list[str]:
    return [line.raw for line in target.log()[seen:] if line.is_error]


@pytest.mark.parametrize("length", ["-1", "1.5"])
@xfail("prosody-invalid-content-length")
def test_an_invalid_content_length_is_refused_cleanly(server, length):
    seen = len(server.log())
    request = (
        f"POST /roster_admin/refresh HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
        f'{length}\r\nConnection: close\r\n\r\n["john"]'
    ).encode()
    response = exchange("127.0.0.1", server.http_port, request, 3)
    time.sleep(0.1)
    assert response.outcome in (ANSWERED, CLOSED, RESET)
    assert response.outcome != ANSWERED or 400 <= response.status < 500
    assert new_errors(server, seen) == []


def test_an_oversize_request_head_is_closed_promptly(server):
    if server.version.startswith("0.12"):
        pytest.xfail(
            f"prosody-0.12-oversize-head-left-open: "
            f"{SUMMARY['prosody-0.12-oversize-head-left-open']}"
        )
    request = b"GET /" + b"a" * 16000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"
    response = exchange("127.0.0.1", server.http_port, request, 3)
    assert response.outcome in (CLOSED, RESET) or 400 <= response.status < 500


@xfail("prosody-chunked-request-body")
def test_a_chunked_request_body_reaches_the_module(server):
    request = (
        b"POST /roster_admin/refresh HTTP/1.1\r\nHost: localhost\r\nConnection: close"
        b'\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n["john"]\r\n0\r\n\r\n'
    )
    response = exchange("127.0.0.1", server.http_port, request, 3)
    assert (response.outcome, response.status) == (ANSWERED, 200), response.body


@xfail("prosody-method-with-hyphen")
def test_a_method_with_a_hyphen_gets_an_answer(server):
    request = b"M-SEARCH /roster_admin/refresh HTTP/1.1\r\nHost: localhost\r\n\r\n"
    response = exchange("127.0.0.1", server.http_port, request, 3)
    assert response.outcome == ANSWERED and 400 <= response.status < 600


@pytest.mark.parametrize("names", [["bad user"], ["x" * 2000], ["bad user", "a b"]])
def test_a_refresh_naming_only_invalid_usernames_is_a_client_error(server, names):
    """Found by the fuzzer (it was a 500): retrying cannot help, so the answer says 400."""
    answer = server.http(
        "POST",
        "/roster_admin/refresh",
        {"Content-Type": "application/json"},
        json.dumps(names).encode(),
    )
    assert answer.status == 400, (answer.status, answer.body)
    assert json.loads(answer.body) == {
        "status": "error",
        "updated": 0,
        "errors": len(names),
        "message": f"{len(names)} of {len(names)} roster updates failed",
    }


CELLS = {
    "roster-login": (roster_rig, login, "a login"),
    "roster-refresh": (roster_rig, refresh_many, "a refresh of many users"),
    "muc-join": (muc_rig, join, "a join"),
}


@pytest.mark.parametrize("version", ["0.12", "13"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_a_50_mb_answer_is_refused_without_stalling_prosody(version, cell):
    """Found by the fault matrix: a fast 50 MB answer could be read whole and decoded,
    stalling the server for seconds (a refresh took 32 s). A race, so three attempts."""
    require_prosody(version)
    rig_of, action, action_name = CELLS[cell]
    fault = FAULTS_BY_NAME["50mb"]
    expect = expectation(action_name, fault)
    rig = rig_of(version)
    try:
        channel = rig.channel(False)
        for _ in range(3):
            with ResponsivenessProbe(rig.bystander) as probe:
                observed = action(rig, channel, fault, channel.backend.restore)
            assert observed.outcome in expect.outcomes, observed
            assert observed.seconds <= expect.bound, f"took {observed.seconds:.2f} s"
            assert probe.slowest < 1.0, f"Prosody stalled for {probe.slowest:.2f} s"
            assert observed.recovered, "the next attempt with a healthy backend failed"
    finally:
        rig.stop()
