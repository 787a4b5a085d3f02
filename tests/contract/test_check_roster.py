"""`check roster` against the roster mock, behaving and misbehaving in each way the module
cares about."""

from __future__ import annotations

import pytest

from mock_backends import tls

ROSTERS = {
    "john": {
        "marie@localhost": {"name": "Marie", "groups": ["Friends"]},
        "michael@localhost": {"name": "Michael", "groups": []},
        "aaron@localhost": {},
    }
}


@pytest.fixture
def app(mock_backend):
    """A well-behaved roster app: john has three contacts, unknown users get {}."""
    return mock_backend("roster", {"rosters": ROSTERS})


def url(backend) -> str:
    return backend.url + "/contacts/%s"


def test_a_behaving_app_is_clean_and_every_probe_is_a_get(check, app):
    run = check("roster", url(app), "--user", "john")
    assert run.status == 0
    assert run.codes("violation") == [] and run.codes("warning") == []
    assert run.finding("roster.contacts")["summary"] == "john has 3 contact(s), 3 usable"
    assert {entry["method"] for entry in app.journal()} == {"GET"}
    assert all(e["headers"]["Accept"] == "application/json" for e in app.journal())


def test_usernames_are_percent_encoded_as_the_module_does(check, app):
    check("roster", url(app), "--user", "John")
    paths = {entry["raw_path"]: entry["path"] for entry in app.journal()}
    assert paths["/contacts/john"] == "/contacts/john"  # stringprepped, as Prosody stores it
    assert (
        paths["/contacts/prosody-harness-check%3Fx%3D1%23y%2520z%2Bw"]
        == "/contacts/prosody-harness-check?x=1#y%20z+w"
    )
    assert (
        paths["/contacts/prosody-harness-check-j%C3%B6rg-%E6%97%A5%E6%9C%AC"]
        == "/contacts/prosody-harness-check-jörg-日本"
    )
    assert max(len(path) for path in paths) > 1023


def test_404_for_an_unknown_user_is_a_warning_and_strict_makes_it_fail(check, mock_backend):
    app = mock_backend("roster", {"rosters": ROSTERS, "unknown_user": "404"})
    run = check("roster", url(app), "--user", "john")
    assert run.status == 0
    found = run.finding("roster.unknown-user-status")
    assert found["severity"] == "warning" and "200 {}" in found["hint"]
    assert run.codes("warning") == ["roster.unknown-user-status"]  # the awkward names agree
    assert check("roster", url(app), "--user", "john", "--strict").status == 1


def test_a_non_200_roster_fails_the_fetch(check, app):
    app.add_answer(path="/contacts/john", status=201, json={"marie@localhost": {}})
    run = check("roster", url(app), "--user", "john")
    assert run.status == 1
    found = run.finding("roster.status")
    assert found["severity"] == "violation" and "HTTP 201" in found["summary"]
    assert "internal-server-error" in found["effect"] and "closed" in found["upstream"]


@pytest.mark.parametrize(
    "answer, code",
    [
        ({"body": "<html>oops</html>", "content_type": "text/html"}, "roster.not-json"),
        ({"json": ["marie@localhost"]}, "roster.not-object"),
        ({"body": '\ufeff{"marie@localhost": {}}'}, "roster.bom"),
    ],
)
def test_a_document_that_is_not_a_json_object_fails_the_fetch(check, app, answer, code):
    app.add_answer(path="/contacts/john", **answer)
    run = check("roster", url(app), "--user", "john")
    assert run.status == 1
    assert run.finding(code, "user john")["severity"] == "violation"
    assert "roster.contacts" not in run.codes()


def test_bad_entries_are_skipped_and_named_with_the_module_s_reason(check, app):
    app.add_answer(
        path="/contacts/john",
        json={
            "marie@localhost": {"name": 5},
            "carol@localhost": "Carol",
            "not a jid@localhost": {},
            "aaron@localhost": {"groups": [""]},
            "bob@localhost": {"groups": {"Friends": "yes"}},
            "full@localhost/phone": {},
            "dave@localhost": {"groups": "Friends"},
            "erin@localhost": {"name": None, "groups": None},
        },
    )
    run = check("roster", url(app), "--user", "john")
    assert run.status == 1
    found = run.finding("roster.entry-skipped")
    assert found["summary"].startswith("7 contact(s) of john")
    for reason in (
        "name must be a string",
        "not a valid bare JID",
        "groups must hold non-empty strings",
        "a groups object must map non-empty names to true or false",
        "contact data must be a JSON object",
    ):
        assert reason in found["summary"]
    assert "and 2 more" in found["summary"]
    assert "skips each of these" in found["effect"]
    assert run.finding("roster.contacts")["summary"] == "john has 8 contact(s), 1 usable"


def test_self_contacts_duplicates_odd_forms_and_ignored_fields(check, app):
    app.add_answer(
        path="/contacts/john",
        body=(
            '{"john@localhost": {}, "Marie@LocalHost": {"subscription": "to"},'
            ' "marie@localhost": {"groups": {"A": true, "B": false}},'
            ' "aaron@localhost": {}, "aaron@localhost": {"x": 1}}'
        ),
    )
    run = check("roster", url(app), "--user", "john", "--domain", "localhost")
    assert run.status == 0
    assert run.finding("roster.self-contact")["severity"] == "warning"
    duplicate = run.finding("roster.duplicate-contact")
    assert "aaron@localhost" in duplicate["summary"] and "marie@localhost" in duplicate["summary"]
    assert (
        "'Marie@LocalHost' -> 'marie@localhost'" in run.finding("roster.jid-normalised")["summary"]
    )
    ignored = run.finding("roster.ignored-fields")
    assert "subscription" in ignored["summary"] and "'both'" in ignored["effect"]


def test_an_unknown_user_with_contacts_is_a_warning(check, app):
    app.add_answer(path="/contacts/prosody-harness-check*", json={"marie@localhost": {}})
    run = check("roster", url(app), "--user", "john")
    found = run.finding("roster.unknown-user-has-contacts")
    assert found["severity"] == "warning"
    assert "unknown user" in found["probe"] and "non-ASCII username" in found["probe"]


def test_an_app_failing_on_awkward_usernames(check, app):
    app.add_answer(path="/contacts/prosody-harness-check-jörg*", status=500, body="boom")
    app.add_answer(path="/contacts/prosody-harness-check-xxx*", status=414, body="too long")
    run = check("roster", url(app), "--user", "john")
    assert run.status == 1
    non_ascii = run.finding("roster.awkward-username", "non-ASCII username")
    assert non_ascii["severity"] == "violation" and "HTTP 200" in non_ascii["summary"]
    assert "without encoding" in non_ascii["upstream"]
    assert run.finding("roster.awkward-username", "longest username")["severity"] == "warning"


def test_content_type_compression_and_redirects(check, app):
    app.add_answer(path="/contacts/john", body="{}", content_type="text/plain", times=1)
    app.add_answer(
        path="/contacts/prosody-harness-check-unknown",
        body="{}",
        headers={"Content-Encoding": "gzip"},
    )
    app.add_answer(
        path="/contacts/prosody-harness-check-x*",
        status=302,
        headers={"Location": "https://elsewhere.example/contacts/x"},
    )
    run = check("roster", url(app), "--user", "john")
    assert run.finding("roster.content-type")["severity"] == "info"
    assert run.finding("content-encoding", "unknown user")["severity"] == "violation"
    redirect = run.finding("redirect", "longest username")
    assert "elsewhere.example" in redirect["summary"] and "not followed" in redirect["effect"]


def test_timing_against_the_module_s_timeout(check, app):
    app.add_fault(path="/contacts/john", latency=0.3)
    app.add_fault(path="/contacts/prosody-harness-check-unknown", latency=0.7)
    run = check("roster", url(app), "--user", "john", "--timeout", "0.5")
    assert run.finding("slow", "user john")["severity"] == "warning"
    late = run.finding("timeout", "unknown user")
    assert late["severity"] == "violation" and "remote-server-timeout" in late["effect"]
    assert run.status == 1


def test_dropped_and_hung_requests(check, app):
    app.add_fault(path="/contacts/john", drop=True)
    app.add_fault(path="/contacts/prosody-harness-check*", hang=5)
    run = check("roster", url(app), "--user", "john", "--timeout", "0.3")
    assert run.finding("dropped", "user john")["severity"] == "violation"
    assert run.finding("timeout", "unknown user")["severity"] == "violation"
    # after two probes without an answer in time, the rest are not sent
    assert run.finding("skipped")["severity"] == "info"
    assert len(app.journal()) == 3


def test_the_default_timeout_is_the_module_s(check, app):
    report = check("roster", url(app)).report
    assert report["timeout"] == {"seconds": 5.0, "module_default": True}
    assert "roster.no-user" in [f["code"] for f in report["findings"]]


def test_a_header_the_module_cannot_send(check, app):
    app.add_answer(path="/contacts/john", json={}, times=1)
    app.add_answer(path="/contacts/john", status=401, json={"error": "who are you"})
    run = check("roster", url(app), "--user", "john", "--header", "X-Api-Key: secret")
    assert run.finding("header-not-sent")["severity"] == "info"
    found = run.finding("needs-unsendable-header")
    assert found["severity"] == "violation" and "HTTP 401" in found["summary"]
    assert app.journal()[0]["headers"]["X-Api-Key"] == "secret"
    assert run.probes()[0]["request_headers"]["X-Api-Key"] == "(--header)"  # not in reports
    assert "X-Api-Key" not in app.journal()[-1]["headers"]


def test_tls_self_signed_stops_unless_insecure(check, mock_backend):
    app = mock_backend("roster", {"rosters": ROSTERS, "tls": "self-signed"})
    run = check("roster", url(app), "--user", "john")
    assert run.status == 1 and run.codes() == ["tls.unverified"]
    assert app.journal() == []
    run = check("roster", url(app), "--user", "john", "--insecure")
    assert run.finding("tls.unverified")["severity"] == "violation"  # no option to skip it
    assert "roster.contacts" in run.codes() and len(app.journal()) == 5


def test_tls_trusted_with_the_ca_file_is_clean(check, mock_backend):
    app = mock_backend("roster", {"rosters": ROSTERS, "tls": "trusted"})
    run = check("roster", url(app), "--user", "john", "--ca-file", tls.ca_file())
    assert run.status == 0 and run.codes("violation") == []


def test_an_unreachable_app_exits_2(check, mock_backend):
    app = mock_backend("roster", {})
    target = url(app)
    app.stop()
    run = check("roster", target)
    assert run.status == 2
    assert "cannot reach" in run.report["unreachable"] and run.report["exit_status"] == 2
    assert "cannot reach" in run.err
