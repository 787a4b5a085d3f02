"""`check webhook` against the REST callback mock: read-only without --allow-writes, and
every kind of answer mod_rest treats differently with it."""

from __future__ import annotations

import pytest

from harness import stanza as stanza_xml

PROBES = [
    "OPTIONS (read-only)",
    "chat message",
    "iq get (ping)",
    "presence",
    "non-ASCII message",
    "odd JIDs (escaped node, / and @ in the resource)",
    "error message",
]
TEST_BODY = "prosody-harness check: a test message, please ignore"


@pytest.fixture
def hook(rest_callback_backend):
    """The mock's default: 202 for everything."""
    return rest_callback_backend


def url(backend) -> str:
    return backend.url + "/stanzas"


def writes(check, backend, *args: str):
    return check("webhook", url(backend), "--allow-writes", *args)


def test_without_allow_writes_only_options_is_sent(check, hook):
    run = check("webhook", url(hook))
    assert run.status == 0
    assert [entry["method"] for entry in hook.journal()] == ["OPTIONS"]
    assert hook.received_stanzas() == []
    assert "--allow-writes" in run.finding("webhook.read-only")["hint"]


def test_a_webhook_accepting_everything_is_clean(check, hook):
    run = writes(check, hook)
    assert run.status == 0
    assert run.codes("violation") == [] and run.codes("warning") == []
    assert [probe["probe"] for probe in run.probes()] == PROBES
    iq = run.finding("webhook.accepted", "iq get")
    assert iq["effect"] == "accepted: the iq gets an empty result"
    received = hook.received_stanzas()
    assert [stanza_xml.local_name(s) for s in received] == [
        "message",
        "iq",
        "presence",
        "message",
        "message",
        "message",
    ]
    assert received[3].get("from") == "jörg-prosody-harness-check@example.com/Küche"
    assert received[4].get("from") == "d\\27artagnan@example.com/a/b@c"
    posted = [entry for entry in hook.journal() if entry["method"] == "POST"]
    assert all(e["headers"]["Content-Type"] == "application/xmpp+xml" for e in posted)
    assert all(e["headers"]["Accept"] == "application/xmpp+xml, application/json" for e in posted)
    assert posted[3]["headers"]["Content-Language"] == "de"


def test_json_delivery_and_replies(check, hook):
    hook.add_reply_rule({"kind": "message", "body": TEST_BODY}, reply={"body": "pong"})
    hook.add_reply_rule({"kind": "iq"}, reply={"kind": "iq", "version": {"name": "bot"}})
    run = writes(check, hook, "--content-type", "json", "--to", "bot.example.net")
    assert run.status == 0
    assert hook.received_stanzas()[0] == {
        "kind": "message",
        "type": "chat",
        "to": "bot.example.net",
        "from": "prosody-harness-check@example.com/check",
        "id": "prosody-harness-check-1",
        "body": TEST_BODY,
    }
    reply = run.finding("webhook.reply", "chat message")
    assert "original's type (chat)" in reply["effect"] and "type normal" in reply["upstream"]
    assert "as type result" in run.finding("webhook.reply", "iq get")["effect"]


XML, JSON = "application/xmpp+xml", "application/json"


@pytest.mark.parametrize(
    "reply, content_type, problem",
    [
        ("<iq><query xmlns='jabber:iq:version'></iq>", XML, "not well-formed XML"),
        ("<message><body>wrong kind</body></message>", "text/xml", "a message, not an iq"),
        ("<iq type='bogus'/>", XML, "is not a type of iq stanza"),
        ("<iq xmlns='urn:other'/>", "application/xml", "namespace"),
        ("<iq><!-- a comment --></iq>", XML, "comments"),
        ("<?xml version='1.0'?><iq/><iq/>", XML, "not well-formed XML"),
        ('{"kind": "iq", "pingg": true}', JSON, "unsupported field 'pingg'"),
        ('{"kind": "iq", "ping": "yes"}', JSON, "ping: 'yes' is not of type"),
        ('{"body": "not an iq"}', JSON, "a message, not an iq"),
        ('{"kind": "iq", "ping": null}', JSON, "'ping' must not be null"),
        ('["iq"]', JSON, "must be a JSON object"),
    ],
)
def test_an_unusable_reply_to_an_iq(check, hook, reply, content_type, problem):
    hook.add_answer(method="POST", status=202, times=1)  # the chat message
    hook.add_answer(method="POST", body=reply, content_type=content_type, times=1)
    run = writes(check, hook)
    assert run.status == 1
    found = run.finding("webhook.unusable-reply", "iq get")
    assert problem in found["summary"]
    assert found["effect"] == "the iq gets internal-server-error (cancel)"
    assert "empty result" in found["upstream"]


def test_an_unusable_reply_to_a_message_is_dropped(check, hook):
    hook.add_reply_rule({"kind": "message", "body": TEST_BODY}, reply="<presence/>")
    run = writes(check, hook)
    found = run.finding("webhook.unusable-reply", "chat message")
    assert "a presence, not a message" in found["summary"]
    assert "the sender gets nothing" in found["effect"]


@pytest.mark.parametrize(
    "status, severity, condition",
    [
        (500, "violation", "internal-server-error (cancel)"),
        (418, "warning", "internal-server-error (cancel)"),
        (503, "warning", "service-unavailable (cancel)"),
        (403, "warning", "forbidden (auth)"),
    ],
)
def test_error_statuses_become_stanza_errors(check, hook, status, severity, condition):
    hook.add_reply_rule({"kind": "message", "body": TEST_BODY}, status=status)
    run = writes(check, hook)
    found = run.finding("webhook.status", "chat message")
    assert found["severity"] == severity
    assert found["effect"].startswith(f"the sender gets {condition}")


def test_a_plain_text_error_body_is_the_error_text(check, hook):
    hook.add_reply_rule(
        {"kind": "message", "body": TEST_BODY},
        status=503,
        reply="Backend overloaded",
        content_type="text/plain",
    )
    run = writes(check, hook)
    found = run.finding("webhook.status", "chat message")
    assert "with the text 'Backend overloaded'" in found["effect"]
    assert "as a chat message" in found["upstream"]


def test_501_to_an_iq_is_a_note_and_error_stanzas_are_never_answered(check, hook):
    hook.add_reply_rule({"kind": "iq"}, status=501)
    hook.add_reply_rule(
        {"kind": "message", "type": "error"}, reply="<message><body>sorry</body></message>"
    )
    run = writes(check, hook)
    assert run.status == 0
    assert run.finding("webhook.status", "iq get")["severity"] == "info"
    assert run.finding("webhook.reply-ignored", "error message")["severity"] == "info"


def test_415_names_the_content_type_to_configure(check, hook):
    hook.add_answer(method="POST", status=415, body="", headers={"Accept": "application/json"})
    run = writes(check, hook)
    found = run.finding("webhook.media-type", "chat message")
    assert found["severity"] == "violation"
    assert 'rest_callback_content_type = "application/json"' in found["hint"]


def test_a_body_that_is_not_a_reply_is_ignored(check, hook):
    hook.add_answer(method="POST", status=200, body="OK", content_type="text/plain", times=1)
    hook.add_answer(
        method="POST", status=202, body="<message/>", content_type="application/xmpp+xml", times=1
    )
    run = writes(check, hook)
    assert run.finding("webhook.body-ignored", "chat message")["severity"] == "warning"
    ignored = run.finding("webhook.body-ignored", "iq get")
    assert "a 202 answer's body is ignored" in ignored["effect"]


def test_a_webhook_failing_on_awkward_input(check, hook):
    hook.add_reply_rule({"from": "jörg-*"}, status=400)
    hook.add_reply_rule({"from": "d\\27artagnan@*"}, status=500)
    run = writes(check, hook)
    assert run.status == 1
    assert run.finding("webhook.awkward-input", "non-ASCII message")["severity"] == "violation"
    assert run.finding("webhook.awkward-input", "odd JIDs")["severity"] == "violation"


def test_a_slow_and_a_hung_webhook(check, hook):
    hook.add_fault(method="POST", latency=0.3, times=1)
    hook.add_fault(method="POST", hang=5)
    run = writes(check, hook, "--timeout", "0.5")
    assert run.finding("slow", "chat message")["severity"] == "warning"
    hung = run.finding("timeout", "iq get")
    assert "remote-server-timeout" in hung["effect"] and "never answered" in hung["upstream"]
    assert run.finding("skipped")["probe"].startswith("non-ASCII message")


def test_a_dropped_connection(check, hook):
    hook.add_fault(method="POST", drop=True, times=1)
    run = writes(check, hook)
    assert "recipient-unavailable" in run.finding("dropped", "chat message")["effect"]


def test_options_accept_header_and_upstream(check, mock_backend):
    hook = mock_backend("rest_callback", {"accept": "application/json"})
    run = check("webhook", url(hook))
    found = run.finding("webhook.options-accept")
    assert "posts application/xmpp+xml" in found["effect"]
    assert "may post application/json" in found["upstream"]
    hook.add_fault(method="OPTIONS", drop=True)
    assert (
        run is not None
        and check("webhook", url(hook)).finding("webhook.options")["severity"] == "info"
    )


def test_a_header_the_module_cannot_send(check, hook):
    hook.add_answer(method="POST", status=202, times=6)
    hook.add_answer(method="POST", status=401, body="token?", content_type="text/plain")
    run = writes(check, hook, "--header", "X-Hook-Token: t")
    assert "mod_rest never sends X-Hook-Token" in run.finding("header-not-sent")["effect"]
    assert run.finding("needs-unsendable-header")["severity"] == "violation"


def test_usage_errors(check, hook):
    assert check("webhook", url(hook), "--user", "john").status == 2
    assert check("webhook", url(hook), "--from", "a b@c").status == 2
    assert check("roster", url(hook) + "/%s", "--allow-writes").status == 2
    assert hook.journal() == []
