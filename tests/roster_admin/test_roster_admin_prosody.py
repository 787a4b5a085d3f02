"""mod_http_roster_admin on real Prosody: what the scenario format cannot express
(timing of bounded concurrency, many hostile inputs in one run). Over 400 lines: many small
tests sharing one server fixture."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from harness.profile import Profile, VirtualHostProfile
from harness.target import LogLine, TargetError
from harness.targets.prosody import ProsodyTarget
from mock_backends.roster import RosterBackend

pytestmark = pytest.mark.prosody

HOST = "localhost"
PASSWORD = "s3cret"
StartServer = Callable[..., ProsodyTarget]


@pytest.fixture
def roster_app() -> Iterator[RosterBackend]:
    with RosterBackend({"rosters": {}}) as backend:
        yield backend


@pytest.fixture
def start_server(roster_app: RosterBackend) -> Iterator[StartServer]:
    """start_server(**module_options) -> a started Prosody, stopped after the test."""
    started: list[ProsodyTarget] = []

    def start(**options: Any) -> ProsodyTarget:
        host = VirtualHostProfile(
            HOST,
            modules_enabled=["http_roster_admin", "block_subscriptions"],
            modules_disabled=["roster"],
            options={
                "storage": {"roster": "memory"},
                "http_roster_url": f"{roster_app.url}/contacts/%s",
                **options,
            },
        )
        target = ProsodyTarget(Profile(hosts={HOST: host}))
        started.append(target)
        target.start()
        return target

    yield start
    for target in started:
        target.stop()


ROSTER_GET = '<iq type="get" id="{id}"><query xmlns="jabber:iq:roster"/></iq>'


def problems(lines: list[LogLine]) -> list[str]:
    return [line.raw for line in lines if line.is_error]


def connect_users(server, names: list[str]):
    clients = []
    for name in names:
        server.create_user(name, HOST, PASSWORD)
        clients.append(server.connect(f"{name}@{HOST}", PASSWORD))
    return clients


def wait_for_fetches(backend: RosterBackend, count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(backend.journal()) < count:
        assert time.monotonic() < deadline, f"expected {count} roster fetches"
        time.sleep(0.01)


def test_refresh_runs_at_most_the_configured_number_of_fetches_at_once(
    start_server: StartServer, roster_app: RosterBackend
) -> None:
    server = start_server(http_roster_concurrency=2)
    names = [f"user{i}" for i in range(6)]
    connect_users(server, names)
    wait_for_fetches(roster_app, len(names))
    roster_app.clear_journal()
    latency = 0.3
    roster_app.add_fault(path="/contacts/*", latency=latency)

    started = time.monotonic()
    response = server.http("POST", "/roster_admin/refresh", body=json.dumps(names).encode())
    elapsed = time.monotonic() - started

    assert response.status == 200, response.text()
    assert response.json() == {
        "status": "ok",
        "message": "roster update complete",
        "updated": 6,
        "errors": 0,
    }
    # Six fetches, two at a time: three waves of `latency` each.
    assert 3 * latency - 0.05 <= elapsed < 3 * latency + 1.0
    arrivals = sorted(entry["time"] for entry in roster_app.journal())
    assert len(arrivals) == 6
    for first, third in zip(arrivals, arrivals[2:], strict=False):
        assert third - first >= latency - 0.05, "a third fetch began while two were running"
    assert not problems(server.log())


def test_a_login_does_not_wait_behind_a_large_refresh(
    start_server: StartServer, roster_app: RosterBackend
) -> None:
    server = start_server(http_roster_concurrency=1)
    names = [f"user{i}" for i in range(4)]
    connect_users(server, names)
    wait_for_fetches(roster_app, len(names))
    roster_app.clear_journal()
    latency = 0.5
    roster_app.add_fault(path="/contacts/user*", latency=latency)
    roster_app.set_roster("late", {"marie@localhost": {"name": "Marie"}})

    answers: list[Any] = []
    refresh = threading.Thread(
        target=lambda: answers.append(
            server.http(
                "POST", "/roster_admin/refresh", body=json.dumps(names).encode(), timeout=10
            )
        )
    )
    refresh.start()
    wait_for_fetches(roster_app, 1)  # the refresh is under way, three fetches queued
    started = time.monotonic()
    (late,) = connect_users(server, ["late"])
    late.send(ROSTER_GET.format(id="r1"))
    reply = late.receive(lambda el: el.get("id") == "r1", timeout=5)
    waited = time.monotonic() - started
    refresh.join(timeout=10)

    assert reply.get("type") == "result"
    assert [item.get("jid") for item in reply.iter("{jabber:iq:roster}item")] == ["marie@localhost"]
    # Behind the queued refresh fetches it would wait about 4 x latency; ahead of them,
    # only for the one fetch already running.
    assert waited < 2 * latency, f"the login waited {waited:.2f} s"
    assert answers and answers[0].json()["updated"] == 4
    assert not problems(server.log())


def test_a_refresh_counts_and_fetches_each_user_once_whatever_the_case(
    start_server: StartServer, roster_app: RosterBackend
) -> None:
    server = start_server()
    connect_users(server, ["john"])
    wait_for_fetches(roster_app, 1)
    roster_app.clear_journal()
    response = server.http(
        "POST", "/roster_admin/refresh", body=json.dumps(["john", "John", "JOHN"]).encode()
    )
    assert response.status == 200, response.text()
    assert response.json()["updated"] == 1
    assert [entry["path"] for entry in roster_app.journal()] == ["/contacts/john"]
    assert not problems(server.log())


HOSTILE_REFRESH_BODIES = [
    (b"\xff\xfe\x00garbage", 400),
    (b"[" * 50_000, 400),
    (b'{"__array": 5}', 400),
    (b'{"__hash": [1, 2, 3]}', 400),
    (b'["john", {"__array": 5}]', 400),
    (b"[1e999]", 400),
    (b'"john"', 400),
    (b"null", 400),
    (b"[true]", 400),
    (b'[["john"]]', 400),
    (b'["john",]', 400),
    (b"  ", 400),
    (b'["' + b"a" * 2_000_000 + b'"]', 413),
]


def test_hostile_refresh_bodies_get_an_answer_and_no_traceback(
    start_server: StartServer, roster_app: RosterBackend
) -> None:
    server = start_server()
    for body, status in HOSTILE_REFRESH_BODIES:
        response = server.http("POST", "/roster_admin/refresh", body=body, timeout=5)
        assert response.status == status, (body[:40], response.text())
        assert response.json()["status"] == "error"
        assert response.json()["message"]
    for path in (
        "/roster_admin/refresh/%00",
        "/roster_admin/refresh/%ff%fe",
        "/roster_admin/refresh/a/b",
        "/roster_admin/refresh/" + "x" * 5000,
    ):
        response = server.http("GET", path, timeout=5)
        assert response.status in (200, 400), (path[:40], response.text())
    response = server.http("POST", "/roster_admin/refresh", body=b'["john"]')
    assert response.json() == {
        "status": "ok",
        "message": "roster update complete",
        "updated": 1,
        "errors": 0,
    }
    assert not problems(server.log())


HOSTILE_ROSTERS = [
    '{"__array": 5}',
    '{"__array": ["x@localhost"], "marie@localhost": {}}',
    '{"__hash": ["a@localhost", {"name": "A"}], "marie@localhost": {}}',
    '{"marie@localhost": {"groups": {"__array": [true]}}}',
    '{"marie@localhost": {"name": {"nested": 1}, "groups": [[1]]}}',
    "[" * 50_000,
    '{"marie@localhost": {"name": "' + "M" * 100_000 + '"}}',
    "\xff\xfe",
    "",
]


def test_hostile_roster_documents_never_silence_a_roster_request(
    start_server: StartServer, roster_app: RosterBackend
) -> None:
    server = start_server()
    (john,) = connect_users(server, ["john"])
    wait_for_fetches(roster_app, 1)  # the login fetch, answered with an empty roster
    for number, body in enumerate(HOSTILE_ROSTERS):
        roster_app.clear_faults()
        roster_app.add_fault(path="/contacts/john", body=body)
        response = server.http("GET", "/roster_admin/refresh/john", timeout=5)
        assert response.status in (200, 500), response.text()
        john.send(ROSTER_GET.format(id=f"r{number}"))
        reply = john.receive(lambda el, n=number: el.get("id") == f"r{n}", timeout=3)
        # A refresh that failed kept the roster; one that half-worked replaced it.
        assert reply.get("type") == "result", body[:60]
    assert not problems(server.log())


def test_roster_request_waits_for_the_login_fetch_and_a_failed_one_is_retried(
    start_server: StartServer, roster_app: RosterBackend
) -> None:
    server = start_server(http_roster_timeout=0.5)
    roster_app.set_roster("john", {"marie@localhost": {"name": "Marie"}})
    roster_app.add_fault(path="/contacts/john", hang=5, times=1)
    (john,) = connect_users(server, ["john"])
    started = time.monotonic()
    john.send(ROSTER_GET.format(id="r1"))
    reply = john.receive(lambda el: el.get("id") == "r1", timeout=3)
    assert reply.get("type") == "error"
    assert time.monotonic() - started < 1.0, "the error reply must come at the timeout"
    john.send(ROSTER_GET.format(id="r2"))
    reply = john.receive(lambda el: el.get("id") == "r2", timeout=3)
    assert reply.get("type") == "result"
    items = [item.get("jid") for item in reply.iter("{jabber:iq:roster}item")]
    assert items == ["marie@localhost"]
    assert not problems(server.log())


@pytest.mark.parametrize("url", [None, "http://127.0.0.1:1/contacts/"])
def test_module_refuses_to_load_without_a_usable_roster_url(url: str | None) -> None:
    options = {"http_roster_url": url} if url else {}
    host = VirtualHostProfile(
        HOST, modules_enabled=["http_roster_admin"], modules_disabled=["roster"], options=options
    )
    target = ProsodyTarget(Profile(hosts={HOST: host}))
    with pytest.raises(TargetError, match="http_roster_url must be set"):
        target.start()
    target.stop()


# -- reading roster documents, and the connections fetches use ------------------------------


class RawRosters(BaseHTTPRequestHandler):
    """A roster web app that answers each path with exact bytes (`bodies`, default `{}`) over
    HTTP/1.1 keep-alive, and remembers the client port of every answered request. With
    `drop_reused` it closes a kept-alive connection when a second request comes on it,
    without answering (as a server whose keep-alive timeout ran out just then does)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    bodies: dict[str, bytes] = {}
    ports: list[int] = []
    drop_reused = False
    answered_here = 0  # per connection: one handler instance serves one connection

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.drop_reused and self.answered_here:
            self.close_connection = True
            return
        self.answered_here += 1
        type(self).ports.append(self.client_address[1])
        body = type(self).bodies.get(self.path, b"{}")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def raw_rosters() -> Iterator[tuple[str, type[RawRosters]]]:
    """(base URL, handler class): set `bodies`, read `ports`."""
    handler = type("Rosters", (RawRosters,), {"bodies": {}, "ports": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def start_raw(raw_rosters: tuple[str, type[RawRosters]], **options: Any) -> ProsodyTarget:
    url, _ = raw_rosters
    host = VirtualHostProfile(
        HOST,
        modules_enabled=["http_roster_admin", "block_subscriptions"],
        modules_disabled=["roster"],
        options={
            "storage": {"roster": "memory"},
            "http_roster_url": f"{url}/contacts/%s",
            **options,
        },
    )
    target = ProsodyTarget(Profile(hosts={HOST: host}))
    target.start()
    return target


def roster_of(reply) -> dict[str, tuple[str | None, str | None, list[str]]]:
    groups = "{jabber:iq:roster}group"
    return {
        item.get("jid"): (
            item.get("name"),
            item.get("subscription"),
            sorted(group.text or "" for group in item.iter(groups)),
        )
        for item in reply.iter("{jabber:iq:roster}item")
    }


def with_an_escape(document: str) -> str:
    """The same JSON with the first letter of its first string written as a \\u escape:
    util.json reads it alike, while the module's in-place reader leaves it to util.json."""
    match = re.search(r'"([A-Za-z])', document)
    if not match:
        return document
    return document[: match.start(1)] + f"\\u{ord(match.group(1)):04x}" + document[match.end(1) :]


# (the roster at login, the roster at the refresh after it); {self} is the user's own JID.
ROSTER_DOCUMENT_PAIRS = [
    (
        '{"marie@localhost": {"name": "Marie", "groups": ["Friends"]}}',
        '{"marie@localhost": {"name": "Marie", "groups": ["Friends"]},'
        ' "aaron@localhost": {"name": "Aaron"}}',
    ),
    (
        '{"a@localhost": {"groups": ["x", "y", "x"]}, "b@localhost": {"name": "B"}}',
        '{"a@localhost": {"groups": ["y", "x"]}, "b@localhost": {"name": "B", "groups": ["z"]}}',
    ),
    (
        '{"a@localhost": {"groups": {"x": true, "y": false}}}',
        '{"a@localhost": {"groups": {"y": true, "x": false}}}',
    ),
    ('{"a@localhost": {"groups": {"x": true}}}', '{"a@localhost": {"groups": ["x"]}}'),
    (
        '{"a@localhost": {"name": null, "groups": null}, "b@localhost": {"name": "", "groups": []},'
        ' "c@localhost": {}}',
        '{"a@localhost": {"name": "A"}, "b@localhost": {"groups": {}},'
        ' "c@localhost": {"name": null}}',
    ),
    (
        '\n{ "a@localhost" :\t{ "name" : "A" , "groups" : [ "g" ] } }\r\n',
        '{"a@localhost":{"name":"A2","groups":["g","h"]}}   ',
    ),
    ('{"Marie@LocalHost": {"name": "Marie"}}', '{"marie@localhost": {"name": "Marie"}}'),
    (
        '{"{self}": {"name": "Me"}, "not a jid@@": {}, "r@localhost/res": {}, "ok@localhost":'
        ' {"name": "OK"}, "bad@localhost": {"groups": [""]}, "num@localhost": {"name": 5}}',
        '{"ok@localhost": {"name": "OK", "groups": ["g"]}, "{self}": {}}',
    ),
    (
        '{"zoë@localhost": {"name": "Zoë", "groups": ["Émigrés"]}}',
        '{"zoë@localhost": {"name": "Zoë", "groups": ["Émigrés", "Amis"]}}',
    ),
    (
        '{"a@localhost": {"groups": ["g"], "name": "A"}}',
        '{"a@localhost": {"name": "A", "groups": ["g"], "note": {"nested": [1, 2]}}}',
    ),
    ("{}", '{"a@localhost": {"name": "A"}}'),
    ('{"a@localhost": {"name": "A"}}', "{}"),
    (
        '{"a@localhost": {"name": "First"}, "a@localhost": {"name": "Second"}}',
        '{"a@localhost": {"name": "Second", "name": "Third"}}',
    ),
    ('{"a@localhost": {"name": "A"}} trailing', '{"a@localhost": {"name": "A"},}'),
]


def test_plain_and_escaped_roster_documents_give_the_same_rosters(raw_rosters) -> None:
    """Plain documents are read in place, others by util.json: both give the same roster,
    at login and at a refresh (which reuses what did not change)."""
    _, service = raw_rosters
    server = start_raw(raw_rosters)
    try:
        for number, (at_login, at_refresh) in enumerate(ROSTER_DOCUMENT_PAIRS):
            rosters = {}
            for variant in ("plain", "escaped"):
                user = f"{variant}{number}"
                prepare = (lambda text: text) if variant == "plain" else with_an_escape
                own = f"{user}@{HOST}"
                path = f"/contacts/{user}"
                service.bodies[path] = prepare(at_login.replace("{self}", own)).encode()
                (client,) = connect_users(server, [user])
                client.send(ROSTER_GET.format(id="r1"))
                first = roster_of(client.receive(lambda el: el.get("id") == "r1", timeout=5))
                service.bodies[path] = prepare(at_refresh.replace("{self}", own)).encode()
                answer = server.http("GET", f"/roster_admin/refresh/{user}", timeout=5)
                client.send(ROSTER_GET.format(id="r2"))
                second = roster_of(client.receive(lambda el: el.get("id") == "r2", timeout=5))
                rosters[variant] = (first, second, answer.status, answer.json())
                client.disconnect()
            assert rosters["plain"] == rosters["escaped"], (number, at_login, at_refresh)
        for body in (b'["john", "John", "x y"]', b' [ "a" ,"b" ] ', b"[]", b'["a", ""]'):
            plain = server.http("POST", "/roster_admin/refresh", body=body)
            escaped = server.http(
                "POST", "/roster_admin/refresh", body=with_an_escape(body.decode()).encode()
            )
            assert (plain.status, plain.json()) == (escaped.status, escaped.json()), body
        assert not problems(server.log())
    finally:
        server.stop()


def test_fetches_share_connections_kept_open(raw_rosters) -> None:
    _, service = raw_rosters
    server = start_raw(raw_rosters, http_roster_concurrency=2)
    try:
        names = [f"user{i}" for i in range(8)]
        connect_users(server, names)
        deadline = time.monotonic() + 5
        while len(service.ports) < len(names):
            assert time.monotonic() < deadline, "expected a fetch per login"
            time.sleep(0.01)
        for _ in range(3):
            response = server.http("POST", "/roster_admin/refresh", body=json.dumps(names).encode())
            assert response.json()["updated"] == len(names)
        assert len(service.ports) == 4 * len(names)
        # Never more than two fetches at once, and their connections stay open between them.
        assert len(set(service.ports)) <= 2, sorted(set(service.ports))
        assert not problems(server.log())
    finally:
        server.stop()


def test_a_connection_the_service_closed_meanwhile_is_no_failure(raw_rosters) -> None:
    """A service may close an idle kept-alive connection at any time without saying so; a
    fetch sent on it just as it closed is sent again on a new connection."""
    _, service = raw_rosters
    service.drop_reused = True
    service.bodies["/contacts/john"] = b'{"marie@localhost": {"name": "Marie"}}'
    server = start_raw(raw_rosters, http_roster_concurrency=1)
    try:
        (john,) = connect_users(server, ["john"])
        for number in range(10):
            response = server.http("GET", "/roster_admin/refresh/john", timeout=5)
            assert response.json()["errors"] == 0, (number, response.json())
        john.send(ROSTER_GET.format(id="r1"))
        reply = john.receive(lambda el: el.get("id") == "r1", timeout=5)
        assert roster_of(reply) == {"marie@localhost": ("Marie", "both", [])}
        # Each fetch after the first went out twice: on the kept connection, then a new one.
        assert len(service.ports) == len(set(service.ports)) == 11
        assert not [line.raw for line in server.log() if line.level in ("warn", "error")]
    finally:
        server.stop()
