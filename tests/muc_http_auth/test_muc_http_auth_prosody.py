"""mod_muc_http_auth on real Prosody: what the scenario files cannot express.

* `muc_http_auth_insecure` needs an https service with a self-signed certificate (the mock
  backends speak plain http);
* configuration errors are logged while the module loads, before a scenario starts, and
  the runner only reads the log from a scenario's start.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.etree.ElementTree import Element

import pytest

from harness.profile import ComponentProfile, Profile
from harness.target import Client
from harness.targets.prosody import ProsodyTarget
from mock_backends import tls

pytestmark = pytest.mark.prosody

MUC_NS = "http://jabber.org/protocol/muc"
MUC_USER_NS = "{http://jabber.org/protocol/muc#user}"
STANZA_ERRORS_NS = "{urn:ietf:params:xml:ns:xmpp-stanzas}"
ROOM = "tea@rooms.localhost"


class AllowEverybody(BaseHTTPRequestHandler):
    """A minimal authorization service: always {"allowed": true}; remembers its queries."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    queries: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        type(self).queries.append(self.path)
        body = json.dumps({"allowed": True, "error": ""}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def https_service() -> Iterator[str]:
    """An https service on loopback with a self-signed certificate (the mocks' own)."""
    context = tls.server_context("self-signed", "127.0.0.1")
    server = ThreadingHTTPServer(("127.0.0.1", 0), AllowEverybody)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/can-join"
    finally:
        server.shutdown()
        server.server_close()


def muc_profile(**options: object) -> Profile:
    component = ComponentProfile(
        "rooms.localhost",
        "muc",
        ["muc_http_auth"],
        [],
        {"muc_room_locking": False, **options},
    )
    return Profile(components={"rooms.localhost": component})


@pytest.fixture
def start_prosody(tmp_path: Path) -> Iterator:
    targets: list[ProsodyTarget] = []

    def start(profile: Profile) -> ProsodyTarget:
        target = ProsodyTarget(profile)
        target.start()
        targets.append(target)
        target.create_user("alice", "localhost", "s3cret")
        return target

    yield start
    for target in targets:
        target.stop()


def join(client: Client, nick: str = "Alice") -> Element:
    """Join ROOM and return the room's answer: the self-presence or the error."""
    client.send(f'<presence to="{ROOM}/{nick}"><x xmlns="{MUC_NS}"/></presence>')
    return client.receive(
        lambda stanza: (
            stanza.tag == "{jabber:client}presence" and stanza.get("from") == f"{ROOM}/{nick}"
        ),
        timeout=5,
    )


def is_refusal(presence: Element) -> bool:
    return (
        presence.get("type") == "error"
        and presence.find(f".//{STANZA_ERRORS_NS}not-authorized") is not None
    )


def is_self_presence(presence: Element) -> bool:
    return (
        presence.get("type") is None
        and presence.find(f"{MUC_USER_NS}x/{MUC_USER_NS}status[@code='110']") is not None
    )


def module_lines(target: ProsodyTarget, level: str) -> list[str]:
    return [
        line.message
        for line in target.log()
        if line.source.endswith("muc_http_auth") and line.level == level
    ]


def test_insecure_accepts_a_self_signed_certificate(start_prosody, https_service: str) -> None:
    AllowEverybody.queries.clear()
    target = start_prosody(
        muc_profile(muc_http_auth_url=https_service, muc_http_auth_insecure=True)
    )
    alice = target.connect("alice@localhost", "s3cret")
    assert is_self_presence(join(alice))
    assert len(AllowEverybody.queries) == 1
    assert target.error_lines() == []


def test_certificates_are_verified_by_default(start_prosody, https_service: str) -> None:
    AllowEverybody.queries.clear()
    target = start_prosody(muc_profile(muc_http_auth_url=https_service))
    alice = target.connect("alice@localhost", "s3cret")
    assert is_refusal(join(alice))
    # The TLS handshake fails before any request is sent.
    assert AllowEverybody.queries == []
    warnings = module_lines(target, "warn")
    assert any("service unreachable (certificate" in line for line in warnings), warnings
    assert target.error_lines() == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {
                "muc_http_auth_url": "http://127.0.0.1:1/",
                "muc_http_auth_enabled_for": ["tea"],
                "muc_http_auth_disabled_for": ["lobby"],
            },
            "muc_http_auth_enabled_for and muc_http_auth_disabled_for are both set; set only one",
        ),
        ({}, "muc_http_auth_url must be an http:// or https:// URL"),
        (
            {"muc_http_auth_url": "http://127.0.0.1:1/", "muc_http_auth_timeout": "soon"},
            "muc_http_auth_timeout must be a positive number (seconds), got soon",
        ),
        (
            {
                "muc_http_auth_url": "http://127.0.0.1:1/",
                "muc_http_auth_disabled_for": {"all": "x"},
            },
            "muc_http_auth_disabled_for: every key must be a host name",
        ),
    ],
    ids=["both-lists", "no-url", "bad-timeout", "bad-map"],
)
def test_configuration_error_is_logged_once_at_load_and_fails_closed(
    start_prosody, options: dict, message: str
) -> None:
    target = start_prosody(muc_profile(**options))
    errors = target.error_lines()
    assert len(errors) == 1, errors
    assert message in errors[0].message
    assert "traceback" not in errors[0].message.lower()
    alice = target.connect("alice@localhost", "s3cret")
    assert is_refusal(join(alice))
    assert any("module misconfigured" in line for line in module_lines(target, "warn"))
    assert len(target.error_lines()) == 1


class Answering(BaseHTTPRequestHandler):
    """A service answering every question with `body` over HTTP/1.1 keep-alive; it remembers
    the client port of each question. With `drop_reused` it closes a kept-alive connection
    when a second question comes on it, without answering (as a server whose keep-alive
    timeout ran out just then does)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    body = b'{"allowed": true, "error": ""}'
    ports: list[int] = []
    drop_reused = False
    answered_here = 0  # per connection: one handler instance serves one connection

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.drop_reused and self.answered_here:
            self.close_connection = True
            return
        self.answered_here += 1
        type(self).ports.append(self.client_address[1])
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def answering() -> Iterator[tuple[str, type[Answering]]]:
    """(the service's URL, its handler class): set `body` and `drop_reused`, read `ports`."""
    handler = type("Service", (Answering,), {"ports": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/can-join", handler
    server.shutdown()
    server.server_close()


def join_and_leave(client: Client, room: str) -> Element:
    client.send(f'<presence to="{room}/Alice"><x xmlns="{MUC_NS}"/></presence>')
    answer = client.receive(lambda s: s.get("from") == f"{room}/Alice", timeout=5)
    if is_self_presence(answer):
        client.send(f'<presence type="unavailable" to="{room}/Alice"/>')
        client.receive(
            lambda s: s.get("from") == f"{room}/Alice" and s.get("type") == "unavailable", timeout=5
        )
    return answer


def test_questions_share_a_connection_kept_open(start_prosody, answering) -> None:
    url, service = answering
    target = start_prosody(muc_profile(muc_http_auth_url=url))
    alice = target.connect("alice@localhost", "s3cret")
    for number in range(6):
        assert is_self_presence(join_and_leave(alice, f"room{number}@rooms.localhost"))
    assert len(service.ports) == 6
    assert len(set(service.ports)) == 1, service.ports
    assert target.error_lines() == []


def test_a_connection_the_service_closed_meanwhile_is_no_refusal(start_prosody, answering) -> None:
    """A question sent on a kept-alive connection just as the service closed it is asked
    again on a new connection, not refused."""
    url, service = answering
    service.drop_reused = True
    target = start_prosody(muc_profile(muc_http_auth_url=url))
    alice = target.connect("alice@localhost", "s3cret")
    for number in range(5):
        assert is_self_presence(join_and_leave(alice, f"room{number}@rooms.localhost")), number
    # Every question after the first went out twice: on the kept connection, then a new one.
    assert len(service.ports) == len(set(service.ports)) == 5
    assert module_lines(target, "warn") == []
    assert target.error_lines() == []


@pytest.mark.parametrize(
    ("body", "admitted"),
    [
        ('{"allowed": true, "error": ""}', True),
        (' {\n"allowed" : true ,"error":"fine"}\r\n', True),
        ('{"allowed": true}', True),
        ('{"error": "", "allowed": true}', True),
        ('{"allowed": true, "error": "\\u0041"}', True),
        ('{"allowed": true, "error": "", "allowed": false}', False),
        ('{"allowed": true, "error": ""} trailing', False),
        ('{"allowed": "true", "error": ""}', False),
        ('{"allowed": true, "error": 5}', True),
    ],
)
def test_only_the_json_value_true_admits_however_it_is_written(
    start_prosody, answering, body: str, admitted: bool
) -> None:
    url, service = answering
    service.body = body.encode()
    target = start_prosody(muc_profile(muc_http_auth_url=url))
    alice = target.connect("alice@localhost", "s3cret")
    answer = join_and_leave(alice, ROOM)
    assert (is_self_presence(answer), is_refusal(answer)) == (admitted, not admitted), body
    assert target.error_lines() == []
