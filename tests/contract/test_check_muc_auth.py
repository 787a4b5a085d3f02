"""`check muc-auth` against the MUC authorization mock, behaving and misbehaving."""

from __future__ import annotations

import pytest

from mock_backends import tls

MEMBER = ("--user", "romeo@example.com", "--room", "teaparty@rooms.example.com")
#: The order of the probes (a canned answer with times=1 hits the next one).
PROBES = [
    "user romeo@example.com",
    "unknown user",
    "non-ASCII user and nickname",
    "reserved characters in the nickname",
    "escaped JID node (XEP-0106)",
    "JID without a node (a server)",
    "non-ASCII room",
]


@pytest.fixture
def service(mock_backend):
    """A well-behaved service: members of teaparty get in, everybody else gets a reason."""
    return mock_backend(
        "muc_auth",
        {
            "default": {"allowed": False, "error": "not a member"},
            "rules": [{"room": "teaparty", "user": "romeo@example.com", "allowed": True}],
        },
    )


def test_a_behaving_service_is_clean(check, service):
    run = check("muc-auth", service.url + "/can-join", *MEMBER)
    assert run.status == 0
    assert run.codes("violation") == [] and run.codes("warning") == []
    assert [probe["probe"] for probe in run.probes()] == PROBES
    assert all(probe["status"] == 200 for probe in run.probes())


def test_the_query_is_encoded_as_the_module_encodes_it(check, service):
    run = check("muc-auth", service.url + "/can-join?tenant=7", *MEMBER, "--nickname", "Romeo")
    journal = service.journal()
    first = journal[0]
    assert first["query"] == {
        "tenant": "7",
        "userJID": "romeo@example.com",
        "mucJID": "teaparty@rooms.example.com",
        "nickname": "Romeo",
    }
    assert first["headers"]["Accept"] == "application/json"
    reserved = journal[3]
    assert reserved["query"]["nickname"] == "a&b=c?d#e%f+g h/i"
    assert "nickname=a%26b%3dc%3fd%23e%25f%2bg%20h%2fi" in run.probes()[3]["url"]
    assert "userJID=j%c3%b6rg-" in run.probes()[2]["url"]  # util.http.urlencode: lower case
    assert journal[2]["query"]["userJID"] == "jörg-prosody-harness-check@example.com"
    assert journal[5]["query"]["userJID"] == "example.com"


@pytest.mark.parametrize(
    "allowed, shown",
    [
        ("false", 'the string "false"'),
        ("true", 'the string "true"'),
        (1, "the int 1"),
        (0, "the int 0"),
        (None, "null"),
    ],
)
def test_allowed_must_be_a_json_boolean(check, service, allowed, shown):
    service.add_answer(json={"allowed": allowed, "error": ""})
    run = check("muc-auth", service.url, *MEMBER)
    assert run.status == 1
    found = run.finding("muc.allowed-not-boolean", PROBES[0])
    assert f'"allowed" is {shown}' in found["summary"]
    assert found["effect"].startswith("refused by our module")
    assert found["upstream"].startswith("upstream admitted it")


def test_a_missing_allowed_and_bodies_that_are_not_objects(check, service):
    service.add_answer(json={"ok": True}, times=1)
    service.add_answer(body="<html>yes</html>", content_type="text/html", times=1)
    service.add_answer(json=[True], times=1)
    service.add_answer(status=204, times=1)
    run = check("muc-auth", service.url, *MEMBER)
    assert run.finding("muc.allowed-missing", PROBES[0])["upstream"] == "upstream refused it too"
    assert "not JSON" in run.finding("muc.not-object", PROBES[1])["summary"]
    assert "a JSON array" in run.finding("muc.not-object", PROBES[2])["summary"]
    assert "HTTP 204" in run.finding("muc.not-object", PROBES[3])["summary"]
    assert run.finding("muc.content-type", PROBES[1])["severity"] == "info"


def test_refusing_with_a_4xx_is_a_warning_and_a_5xx_on_awkward_input_a_violation(check, service):
    service.add_answer(json={"allowed": True}, times=1)
    service.add_answer(status=403, json={"allowed": False, "error": "unknown"}, times=1)
    service.add_answer(status=500, body="UnicodeDecodeError", times=1)
    run = check("muc-auth", service.url, *MEMBER)
    unknown = run.finding("muc.status", "unknown user")
    assert unknown["severity"] == "warning" and "never cached" in unknown["effect"]
    crashed = run.finding("muc.status", "non-ASCII user")
    assert crashed["severity"] == "violation" and "can never join" in crashed["effect"]
    assert "percent-encoded UTF-8" in crashed["hint"]
    assert run.status == 1


def test_the_named_member_refused_by_status_and_allowed_true_with_an_error_status(check, service):
    service.add_answer(status=503, json={"allowed": True}, times=1)
    run = check("muc-auth", service.url, *MEMBER)
    found = run.finding("muc.status", PROBES[0])
    assert found["severity"] == "violation"
    assert "romeo@example.com never gets into" in found["effect"]
    assert "ignored the status" in found["upstream"]


def test_notes_for_an_open_door_and_a_silent_refusal(check, service):
    service.add_answer(json={"allowed": False}, times=1)
    service.add_answer(json={"allowed": True, "error": {"text": "x"}}, times=1)
    run = check("muc-auth", service.url, *MEMBER)
    assert run.status == 0
    assert run.finding("muc.refused-without-reason", PROBES[0])["severity"] == "info"
    assert run.finding("muc.unknown-user-admitted")["severity"] == "info"
    assert run.finding("muc.error-not-string")["severity"] == "info"


def test_the_authorization_header(check, mock_backend):
    locked = mock_backend("muc_auth", {"authorization": "Bearer s3cret"})
    run = check("muc-auth", locked.url, *MEMBER, "--header", "Authorization: Bearer s3cret")
    assert run.status == 0 and "muc.authorization-not-required" not in run.codes()
    assert run.probes()[-1]["probe"] == "without Authorization"
    assert run.probes()[-1]["status"] == 401
    open_service = mock_backend("muc_auth", {})
    run = check("muc-auth", open_service.url, *MEMBER, "--header", "Authorization: Bearer x")
    assert run.finding("muc.authorization-not-required")["severity"] == "info"
    run = check("muc-auth", locked.url, *MEMBER)
    assert run.finding("muc.status", PROBES[0])["severity"] == "violation"  # 401 for romeo


def test_a_header_the_module_cannot_send(check, service):
    service.add_answer(json={"allowed": True}, times=7)
    service.add_answer(status=401, json={"allowed": False, "error": "no api key"})
    run = check("muc-auth", service.url, *MEMBER, "--header", "X-Api-Key: k")
    assert run.finding("header-not-sent")["effect"].startswith(
        "mod_muc_http_auth never sends X-Api-Key"
    )
    assert run.finding("needs-unsendable-header")["severity"] == "violation"


def test_timing_and_a_dropped_connection(check, service):
    service.add_fault(latency=0.35, times=1)
    service.add_fault(drop=True, times=1)
    service.add_fault(latency=1.5, times=1)
    run = check("muc-auth", service.url, *MEMBER, "--timeout", "0.6")
    assert run.finding("slow", PROBES[0])["severity"] == "warning"
    assert "service unreachable" in run.finding("dropped", PROBES[1])["effect"]
    late = run.finding("timeout", PROBES[2])
    assert late["severity"] == "violation" and "no timeout" in late["upstream"]


def test_tls_self_signed_needs_the_insecure_option(check, mock_backend):
    service = mock_backend("muc_auth", {"tls": "self-signed"})
    run = check("muc-auth", service.url, *MEMBER)
    assert run.status == 1 and run.codes() == ["tls.unverified"]
    run = check("muc-auth", service.url, *MEMBER, "--insecure")
    found = run.finding("tls.unverified")
    assert found["severity"] == "warning" and "muc_http_auth_insecure" in found["effect"]
    assert run.status == 0 and len(run.probes()) == len(PROBES)


def test_tls_trusted_with_the_ca_file(check, mock_backend):
    service = mock_backend("muc_auth", {"tls": "trusted"})
    run = check("muc-auth", service.url, *MEMBER, "--ca-file", tls.ca_file())
    assert run.status == 0 and "tls.unverified" not in run.codes()


def test_usage_errors(check, service):
    assert check("muc-auth", service.url, "--user", "not a jid").status == 2
    assert check("muc-auth", service.url, "--room", "rooms.example.com").status == 2
    assert check("muc-auth", service.url, "--domain", "x").status == 2
    assert service.journal() == []
