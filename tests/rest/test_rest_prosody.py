"""mod_rest on real Prosody 0.12 and 13: what the scenario files cannot express.

* Bearer tokens: minting one needs mod_tokenauth's API (the test-only helper module);
* two requests at once (an iq id already waiting, a client leaving mid long-poll);
* configuration errors, logged while the module loads, before any scenario starts;
* the credential cache's time-to-live and a password changed outside the server;
* many hostile inputs in one run, each answered with a clear error and no traceback.

Over 400 lines: many small tests sharing one server fixture.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import xml.etree.ElementTree as ET

import pytest
import requests
from rest_helpers import (
    COMPONENT,
    HOST,
    JSON,
    PASSWORD,
    SECRET,
    XML,
    RestClient,
    basic,
    component_profile,
    host_profile,
    log_problems,
)

from harness.profile import ComponentProfile, Profile, VirtualHostProfile
from mock_backends.rest_callback import RestCallbackBackend

pytestmark = pytest.mark.prosody

CLIENT_NS = "{jabber:client}"
FORM = "application/x-www-form-urlencoded"


def is_message(body: str):
    return lambda stanza: (
        stanza.tag == f"{CLIENT_NS}message" and stanza.findtext(f"{CLIENT_NS}body") == body
    )


def mint_token(target, username: str, ttl: int | None = None) -> str:
    response = requests.post(
        f"{target.http_url}/rest_test_tokens/create",
        json={"username": username, "ttl": ttl},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["token"]


def token_profile() -> Profile:
    return Profile(
        hosts={HOST: VirtualHostProfile(HOST, modules_enabled=["rest", "rest_test_tokens"])}
    )


# -- Bearer tokens ---------------------------------------------------------------------------


def test_bearer_token_sends_as_its_user(start_prosody) -> None:
    target = start_prosody(token_profile())
    target.create_user("john", HOST, PASSWORD)
    target.create_user("marie", HOST, PASSWORD)
    marie = target.connect(f"marie@{HOST}", PASSWORD)
    marie.send("<presence/>")
    rest = RestClient(target, "Bearer " + mint_token(target, "john"))
    response = rest.post_json(
        {"kind": "message", "type": "chat", "to": f"marie@{HOST}", "body": "via token"}
    )
    assert response.status_code == 202, response.text
    message = marie.receive(is_message("via token"), timeout=5)
    assert message.get("from") == f"john@{HOST}"
    # The token's user may not pose as someone else.
    response = rest.post_json(
        {"kind": "message", "to": f"marie@{HOST}", "body": "x", "from": f"marie@{HOST}"}
    )
    assert response.status_code == 403
    assert log_problems(target) == []


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "secret-token:Zm9vYmFy",
        "MTtqb2huQGxvY2FsaG9zdDtub3BlCg==",  # 0.12's format, unknown id
        "Zm9v!bar",
    ],
)
def test_bearer_refuses_unknown_or_malformed_tokens(start_prosody, token: str) -> None:
    target = start_prosody(token_profile())
    response = RestClient(target, "Bearer " + token).request(
        "GET", "/rest/ping/localhost", Accept=JSON
    )
    assert response.status_code == 403, response.text
    assert response.json()["error"]["condition"] == "not-authorized"
    # Upstream logs a warning with a stack trace for every Bearer request on 0.12. (13's
    # mod_tokenauth itself warns, without a trace, about a token it cannot parse.)
    warnings = [line.raw for line in target.log() if line.level in ("warn", "error")]
    assert not [line for line in warnings if "traceback" in line.lower() or ":rest" in line]
    if target.version.startswith("0.12"):
        assert warnings == []


def test_revoked_token_is_refused(start_prosody) -> None:
    target = start_prosody(token_profile())
    target.create_user("john", HOST, PASSWORD)
    token = mint_token(target, "john")
    rest = RestClient(target, "Bearer " + token)
    assert rest.request("GET", "/rest/ping/localhost").status_code == 200
    revoked = requests.post(
        f"{target.http_url}/rest_test_tokens/revoke", json={"token": token}, timeout=10
    )
    assert revoked.json()["revoked"] is True
    assert rest.request("GET", "/rest/ping/localhost").status_code == 403


def test_bearer_can_be_turned_off(start_prosody) -> None:
    target = start_prosody(
        Profile(
            hosts={
                HOST: VirtualHostProfile(
                    HOST,
                    modules_enabled=["rest", "rest_test_tokens"],
                    options={"rest_auth_mechanisms": ["Basic"]},
                )
            }
        )
    )
    target.create_user("john", HOST, PASSWORD)
    token = mint_token(target, "john")
    response = RestClient(target, "Bearer " + token).request("GET", "/rest/ping/localhost")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="localhost/rest"'
    response = RestClient(target, basic("john")).request("GET", "/rest/ping/localhost")
    assert response.status_code == 200


# -- long polls ------------------------------------------------------------------------------


def silent_component_profile(hook_url: str, **host_options) -> Profile:
    """localhost with mod_rest, and a component whose webhook holds every request."""
    return Profile(
        hosts={HOST: VirtualHostProfile(HOST, modules_enabled=["rest"], options=host_options)},
        components={
            COMPONENT: ComponentProfile(
                COMPONENT,
                "rest",
                options={
                    "component_secret": SECRET,
                    "rest_callback_url": hook_url + "/stanzas",
                    "rest_callback_timeout": 60,
                },
            )
        },
    )


@pytest.fixture
def silent_hook():
    with RestCallbackBackend({"faults": [{"hang": 30}]}) as backend:
        yield backend


def test_second_iq_with_a_waiting_id_gets_409(start_prosody, silent_hook) -> None:
    target = start_prosody(silent_component_profile(silent_hook.url))
    target.create_user("john", HOST, PASSWORD)
    rest = RestClient(target, basic("john"))
    iq = {"kind": "iq", "type": "get", "to": COMPONENT, "id": "same-id", "ping": True}
    first: dict[str, requests.Response] = {}
    thread = threading.Thread(
        target=lambda: first.update(response=rest.post_json(iq, Prosody_Rest_Timeout="2"))
    )
    thread.start()
    time.sleep(0.5)
    second = RestClient(target, basic("john")).post_json(iq)
    assert second.status_code == 409, second.text
    assert second.json()["error"]["condition"] == "conflict"
    thread.join(10)
    assert first["response"].status_code == 504
    # Once answered, the id is free again.
    third = RestClient(target, basic("john")).post_json(iq, Prosody_Rest_Timeout="0.5")
    assert third.status_code == 504
    assert log_problems(target) == []


def test_client_leaving_a_long_poll_frees_its_id(start_prosody, silent_hook) -> None:
    target = start_prosody(silent_component_profile(silent_hook.url))
    target.create_user("john", HOST, PASSWORD)
    body = json.dumps({"kind": "iq", "type": "get", "to": COMPONENT, "id": "gone", "ping": True})
    with socket.create_connection(("127.0.0.1", target.http_port), timeout=5) as sock:
        sock.sendall(
            (
                f"POST /rest HTTP/1.1\r\nHost: localhost\r\n"
                f"Authorization: {basic('john')}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n{body}"
            ).encode()
        )
        time.sleep(0.5)
    time.sleep(0.3)
    again = RestClient(target, basic("john")).post_json(
        json.loads(body), Prosody_Rest_Timeout="0.5"
    )
    assert again.status_code == 504, again.text  # not 409: the first wait ended with its client
    assert log_problems(target) == []


def test_rest_iq_max_timeout_caps_the_requested_timeout(start_prosody, silent_hook) -> None:
    target = start_prosody(silent_component_profile(silent_hook.url, rest_iq_max_timeout=1))
    target.create_user("john", HOST, PASSWORD)
    started = time.monotonic()
    response = RestClient(target, basic("john")).post_json(
        {"kind": "iq", "type": "get", "to": COMPONENT, "ping": True}, Prosody_Rest_Timeout="60"
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert 0.9 < elapsed < 5, elapsed
    assert response.json()["error"]["text"] == "No reply within 1 s"


# -- configuration ---------------------------------------------------------------------------


def test_bad_webhook_configuration_is_logged_once_and_delivers_nothing(start_prosody) -> None:
    with RestCallbackBackend({}) as hook:
        target = start_prosody(
            component_profile(
                rest_callback_url="ftp://127.0.0.1/stanzas",
                rest_callback_stanzas=["message", "fax"],
            )
        )
        errors = [line.message for line in target.log() if line.level == "error"]
        assert any("rest_callback_url must be an http:// or https:// URL" in e for e in errors), (
            errors
        )
        assert any("rest_callback_stanzas: unknown entry fax" in e for e in errors), errors
        target.create_user("marie", HOST, PASSWORD)
        marie = target.connect(f"marie@{HOST}", PASSWORD)
        marie.send(f'<message to="bot@{COMPONENT}" type="chat" id="x1"><body>hi</body></message>')
        bounce = marie.receive(lambda s: s.get("id") == "x1", timeout=5)
        assert bounce.get("type") == "error"
        assert hook.journal() == []
        count = len(errors)
        assert len([line for line in target.log() if line.level == "error"]) == count


def test_component_without_secret_refuses_everything(start_prosody) -> None:
    target = start_prosody(Profile(components={COMPONENT: ComponentProfile(COMPONENT, "rest")}))
    for authorization in ("Bearer ", "Bearer x", basic(COMPONENT, "")):
        response = RestClient(target, authorization, host=COMPONENT).post_json(
            {"kind": "message", "to": f"marie@{HOST}", "body": "x"}
        )
        assert response.status_code in (401, 403), (authorization, response.text)
    assert any("has no component_secret" in line.message for line in target.log())
    assert log_problems(target) == []


# -- the credential cache --------------------------------------------------------------------


def test_cache_ttl_bounds_a_password_changed_behind_prosodys_back(start_prosody) -> None:
    # The trade-off README.markdown states: prosodyctl in another process changes the
    # stored password without telling the running server, so a cached old password keeps
    # working until its entry expires (here after 1 s).
    target = start_prosody(host_profile(http_auth_cache_ttl=1))
    target.create_user("john", HOST, PASSWORD)
    old = RestClient(target, basic("john"))
    assert old.request("GET", "/rest/ping/localhost").status_code == 200
    target.create_user("john", HOST, "changed")  # written to the store directly
    assert old.request("GET", "/rest/ping/localhost").status_code == 200
    time.sleep(1.2)
    assert old.request("GET", "/rest/ping/localhost").status_code == 403
    assert (
        RestClient(target, basic("john", "changed"))
        .request("GET", "/rest/ping/localhost")
        .status_code
        == 200
    )


def test_cache_can_be_turned_off(start_prosody) -> None:
    target = start_prosody(host_profile(http_auth_cache_ttl=0))
    target.create_user("john", HOST, PASSWORD)
    old = RestClient(target, basic("john"))
    assert old.request("GET", "/rest/ping/localhost").status_code == 200
    target.create_user("john", HOST, "changed")
    assert old.request("GET", "/rest/ping/localhost").status_code == 403


# -- hostile input ---------------------------------------------------------------------------

HOSTILE = [
    ("POST", "/rest", XML, "", 400),
    ("POST", "/rest", XML, "<message", 400),
    ("POST", "/rest", XML, "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><message/>", 400),
    ("POST", "/rest", XML, "<message><!-- comment --></message>", 400),
    ("POST", "/rest", XML, "<message/><message/>", 400),
    (
        "POST",
        "/rest",
        XML,
        "<message to='x@localhost'>" + "<a>" * 2000 + "</a>" * 2000 + "</message>",
        422,
    ),
    (
        "POST",
        "/rest",
        XML,
        "<iq type='get' to='localhost'><x:ping xmlns:x='urn:xmpp:ping'/></iq>",
        200,
    ),
    (
        "POST",
        "/rest",
        XML,
        "<message to='x@localhost' from='john@localhost/\u00e9'><body>\u00e9</body></message>",
        200,
    ),
    ("POST", "/rest", XML, "\xff\xfe", 400),
    ("POST", "/rest", JSON, "", 400),
    ("POST", "/rest", JSON, "null", 422),
    ("POST", "/rest", JSON, "[" * 5000 + "]" * 5000, 422),
    ("POST", "/rest", JSON, '{"body": "\\u0000"}', 422),
    ("POST", "/rest", JSON, '{"body": "\\ud800"}', 400),
    ("POST", "/rest", JSON, '{"kind": "iq", "type": "get", "disco": {"identities": [5]}}', 422),
    (
        "POST",
        "/rest",
        JSON,
        '{"kind": "iq", "type": "set", "command": {"node": "x", "data": {"a": {}}}}',
        422,
    ),
    ("POST", "/rest", JSON, '{"kind": "presence", "to": "x@localhost", "priority": 1e300}', 422),
    ("POST", "/rest", JSON, '{"__array": [1], "body": "x"}', 422),
    ("POST", "/rest", JSON, '{"html": "<body><script>&nbsp;</script></body>"}', 422),
    (
        "POST",
        "/rest",
        JSON,
        '{"kind": "message", "to": "x@localhost", "error": {"condition": "<x/>"}}',
        422,
    ),
    ("POST", "/rest", FORM, "body=%FF", 422),
    ("POST", "/rest", FORM, "to=a&to=b", 422),
    ("POST", "/rest", "text/plain", "\x01", 422),
    ("POST", "/rest/iq/get/localhost", "text/plain", "hi", 422),
    ("POST", "/rest/message/chat/a@@b", "text/plain", "hi", 422),
    ("GET", "/rest/ping/localhost?x=1", None, None, 422),
    ("GET", "/rest/ping/%00", None, None, 422),
]


@pytest.mark.parametrize("method, path, content_type, body, status", HOSTILE)
def test_hostile_input_gets_a_clear_error_never_a_500(
    start_prosody, method, path, content_type, body, status
) -> None:
    target = start_prosody(host_profile())
    target.create_user("john", HOST, PASSWORD)
    rest = RestClient(target, basic("john"))
    data = body.encode("latin-1") if body and body.startswith("\xff") else body
    response = rest.request(method, path, data, content_type, Accept=JSON)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == JSON
    if status >= 400:
        document = response.json()
        assert document["type"] == "error" and document["error"]["condition"]
    assert log_problems(target) == []


def test_every_error_body_is_xml_when_the_request_is(start_prosody) -> None:
    target = start_prosody(host_profile(rest_stanza_size_limit=64))
    target.create_user("john", HOST, PASSWORD)
    cases = [
        (None, "<message/>", 401),
        (basic("john", "nope"), "<message/>", 403),
        (basic("john"), "<message to='a@localhost'><body>" + "x" * 100 + "</body></message>", 413),
        (basic("john"), "<presence xmlns='jabber:server' to='a@localhost'/>", 422),
    ]
    for authorization, body, status in cases:
        response = RestClient(target, authorization).post_xml(body)
        assert response.status_code == status
        assert response.headers["Content-Type"] == XML
        error = ET.fromstring(response.content)
        # Like the stanzas in XML bodies, the error is written without a namespace.
        assert error.tag == "error" and error.get("code") == str(status)
        assert error.find("{urn:ietf:params:xml:ns:xmpp-stanzas}text") is not None


def test_many_requests_on_one_connection(start_prosody) -> None:
    target = start_prosody(host_profile())
    target.create_user("john", HOST, PASSWORD)
    rest = RestClient(target, basic("john"))
    for i in range(50):
        response = rest.request("GET", "/rest/ping/localhost", Accept=JSON)
        assert response.status_code == 200
        assert response.json()["type"] == "result", i
    assert log_problems(target) == []
