"""The webhook target of mod_rest (rest_callback_url) and the bot that POSTs to /rest."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
import requests

from harness.stanza import CLIENT_NS
from mock_backends import start_backend

XML = "application/xmpp+xml"
HELLO_XML = (
    '<message to="bot@rest.localhost" from="user@localhost/phone" type="chat">'
    "<body>Hello</body></message>"
)
HELLO_JSON = {
    "kind": "message",
    "type": "chat",
    "to": "bot@rest.localhost",
    "from": "user@localhost/phone",
    "body": "Hello",
}


def post_xml(backend, stanza=HELLO_XML, path="/stanzas"):
    return requests.post(
        backend.url + path, data=stanza.encode(), headers={"Content-Type": XML}, timeout=5
    )


def post_json(backend, payload=HELLO_JSON, path="/stanzas"):
    return requests.post(backend.url + path, json=payload, timeout=5)


def test_accepts_xml_with_202_and_records_it_parsed(rest_callback_backend):
    response = post_xml(rest_callback_backend)
    assert (response.status_code, response.content) == (202, b"")
    assert "Content-Type" not in response.headers
    [stanza] = rest_callback_backend.received_stanzas()
    assert isinstance(stanza, ET.Element)
    assert stanza.tag == f"{{{CLIENT_NS}}}message"
    assert stanza.get("from") == "user@localhost/phone"
    assert stanza.findtext(f"{{{CLIENT_NS}}}body") == "Hello"
    entry = rest_callback_backend.journal()[-1]
    assert entry["headers"]["Content-Type"] == XML and entry["body"] == HELLO_XML


def test_accepts_json_and_records_it_parsed(rest_callback_backend):
    assert post_json(rest_callback_backend).status_code == 202
    assert rest_callback_backend.received_stanzas() == [HELLO_JSON]
    assert rest_callback_backend.journal()[-1]["json"] == HELLO_JSON


def test_options_probe_answers_with_accept(mock_backend):
    backend = mock_backend("rest_callback", {"accept": "application/json"})
    response = requests.options(backend.url + "/stanzas", timeout=5)
    assert response.status_code == 200
    assert response.headers["Accept"] == "application/json"
    assert "POST" in response.headers["Allow"]


def test_default_status_is_configurable(rest_callback_backend):
    rest_callback_backend.set_default_status(204)
    assert post_xml(rest_callback_backend).status_code == 204


@pytest.mark.parametrize(
    "match, matches",
    [
        ({"kind": "message"}, True),
        ({"kind": "presence"}, False),
        ({"type": "chat"}, True),
        ({"type": "groupchat"}, False),
        ({"from": "user@localhost"}, True),  # bare JID matches the full JID
        ({"from": "user@localhost/phone"}, True),
        ({"from": "other@localhost"}, False),
        ({"to": "*@rest.localhost"}, True),
        ({"to": "bot@elsewhere"}, False),
        ({"body": "Hello"}, True),
        ({"body": "Hel*"}, True),
        ({"body": "Goodbye"}, False),
        ({"kind": "message", "body": "Goodbye"}, False),
    ],
)
@pytest.mark.parametrize("post", [post_xml, post_json], ids=["xml", "json"])
def test_each_match_key(rest_callback_backend, match, matches, post):
    rest_callback_backend.add_reply_rule(match, status=503)
    assert post(rest_callback_backend).status_code == (503 if matches else 202)


def test_reply_stanza_in_xml(rest_callback_backend):
    reply = '<message type="chat"><body>Yes, this is bot</body></message>'
    rest_callback_backend.add_reply_rule({"body": "Hello"}, reply=reply)
    response = post_xml(rest_callback_backend)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == XML
    assert response.text == reply


def test_reply_in_json(rest_callback_backend):
    rest_callback_backend.add_reply_rule({"kind": "message"}, reply={"body": "hello"})
    response = post_json(rest_callback_backend)
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"body": "hello"}


def test_reply_json_text_with_explicit_content_type(rest_callback_backend):
    rest_callback_backend.add_reply_rule(
        {}, reply='{"body": "raw"}', status=201, content_type="application/json"
    )
    response = post_xml(rest_callback_backend)
    assert (response.status_code, response.json()) == (201, {"body": "raw"})


def test_reply_plain_text_with_an_error_status(rest_callback_backend):
    # A webhook refusing a stanza with a human-readable reason (mod_rest makes it error text).
    rest_callback_backend.add_reply_rule(
        {}, reply="Backend overloaded", status=503, content_type="text/plain"
    )
    response = post_xml(rest_callback_backend)
    assert (response.status_code, response.text) == (503, "Backend overloaded")
    assert response.headers["Content-Type"].startswith("text/plain")


def test_first_matching_rule_wins(mock_backend):
    backend = mock_backend(
        "rest_callback",
        {
            "default_status": 204,
            "rules": [
                {"match": {"body": "ping"}, "reply": "<message><body>pong</body></message>"},
                {"match": {"kind": "message"}, "status": 403},
            ],
        },
    )
    assert post_json(backend, {**HELLO_JSON, "body": "ping"}).text.endswith("pong</body></message>")
    assert post_json(backend).status_code == 403
    assert post_json(backend, {"kind": "presence"}).status_code == 204


def test_iq_and_presence_kinds(rest_callback_backend):
    rest_callback_backend.add_reply_rule({"kind": "iq", "type": "get"}, status=501)
    iq = '<iq type="get" id="1" to="bot@rest.localhost"><ping xmlns="urn:xmpp:ping"/></iq>'
    assert post_xml(rest_callback_backend, iq).status_code == 501
    assert post_xml(rest_callback_backend, "<presence/>").status_code == 202


@pytest.mark.parametrize(
    "body, content_type, status",
    [
        ("<message><body>unclosed</message>", XML, 400),
        ("<message/><message/>", XML, 400),
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ("hello", "text/plain", 415),
    ],
)
def test_malformed_or_unsupported_payloads_get_4xx_not_a_crash(
    rest_callback_backend, body, content_type, status
):
    response = requests.post(
        rest_callback_backend.url + "/stanzas",
        data=body.encode(),
        headers={"Content-Type": content_type},
        timeout=5,
    )
    assert response.status_code == status
    assert "error" in response.json()
    if status == 415:
        assert XML in response.headers["Accept"]
    assert rest_callback_backend.received_stanzas() == []
    assert rest_callback_backend.journal()[-1]["status"] == status


def test_bot_sends_xml_to_prosody_rest(rest_callback_backend, httpserver):
    httpserver.expect_request("/rest", method="POST").respond_with_data(
        '<iq type="result" id="p1"/>', content_type=XML
    )
    result = rest_callback_backend.send_to_prosody(
        '<iq type="get" id="p1" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>',
        httpserver.url_for("/rest"),
        auth=("admin@localhost", "secret"),
    )
    request, _ = httpserver.log[0]
    assert request.headers["Content-Type"] == XML
    assert request.headers["Authorization"] == "Basic YWRtaW5AbG9jYWxob3N0OnNlY3JldA=="
    assert b"urn:xmpp:ping" in request.data
    assert result["status"] == 200 and result["body"] == '<iq type="result" id="p1"/>'


def test_bot_sends_json_with_a_bearer_token(rest_callback_backend, httpserver):
    httpserver.expect_request("/rest").respond_with_data("", status=202)
    message = {"kind": "message", "type": "chat", "to": "user@localhost", "body": "Hi"}
    result = rest_callback_backend.send_to_prosody(
        message, httpserver.url_for("/rest"), auth="Bearer dG9rZW4="
    )
    request, _ = httpserver.log[0]
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Bearer dG9rZW4="
    assert json.loads(request.data) == message
    assert result["status"] == 202


def test_bot_reports_an_unreachable_prosody(rest_callback_backend):
    result = rest_callback_backend.send_to_prosody("<message/>", "http://127.0.0.1:9/rest")
    assert result["status"] is None and "ConnectionError" in result["error"]


@pytest.mark.parametrize(
    "config, message",
    [
        ({"rules": [{"match": {"sender": "x"}}]}, "rules[0].match: unknown key(s) sender"),
        ({"rules": [{"match": {}, "status": 99}]}, "rules[0].status: expected an HTTP status"),
        ({"rules": [{"match": {}, "reply": "<message>"}]}, "rules[0].reply: not one XML stanza"),
        ({"rules": [{"match": {}, "reply": 5}]}, "expected an XML string or a JSON object"),
        ({"rules": [{"reply": "<a/>", "content_type": "application/json"}]}, "not a JSON document"),
        ({"rules": [{"match": {}, "reply": {"a": 1}, "content_type": XML}]}, "cannot be sent"),
        (
            {"rules": [{"match": {}, "reply": {"a": 1}, "content_type": "text/plain"}]},
            "reply must be a string",
        ),
        ({"rules": [{"match": {}, "content_type": "text/html"}]}, "expected application/xmpp+xml"),
        ({"default_status": "202"}, "default_status: expected an HTTP status"),
    ],
)
def test_bad_initial_state_is_refused_with_a_message(config, message):
    with pytest.raises(ValueError) as caught:
        start_backend("rest_callback", config)
    assert message in str(caught.value)


def test_bot_sends_straight_to_prosody_whatever_proxy_the_environment_names(
    rest_callback_backend, httpserver, monkeypatch
):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    httpserver.expect_request("/rest", method="POST").respond_with_data("", status=202)
    result = rest_callback_backend.send_to_prosody("<message/>", httpserver.url_for("/rest"))
    assert result["status"] == 202, result
