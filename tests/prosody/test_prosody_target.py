"""The prosody target end to end: real server, real XMPP clients, real HTTP."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from harness import stanza
from harness.profile import ComponentProfile, Profile, VirtualHostProfile
from harness.target import ReceiveTimeout, TargetError
from harness.targets.prosody import ProsodyTarget
from harness.xmpp_client import XmppClient

pytestmark = [
    pytest.mark.prosody,
    pytest.mark.skipif(shutil.which("prosody") is None, reason="prosody is not installed"),
]

PROBE_MODULES = str(Path(__file__).parent / "modules")


def is_message(element) -> bool:
    return stanza.local_name(element) == "message"


def body_of(element) -> str | None:
    return element.findtext(f"{{{stanza.CLIENT_NS}}}body")


def wait_for_log(target, predicate, timeout: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in target.log() if predicate(line)]
        if found:
            return found
        time.sleep(0.01)
    raise AssertionError("no such log line; tail:\n" + "\n".join(x.raw for x in target.log()[-15:]))


def test_two_users_log_in_and_exchange_a_message(server):
    server.create_user("juliet", "localhost", "s3cret")
    server.create_user("romeo", "localhost", "m0ntague")
    juliet = server.connect("juliet@localhost", "s3cret", resource="balcony")
    romeo = server.connect("romeo@localhost", "m0ntague")
    assert juliet.jid == "juliet@localhost/balcony"
    assert romeo.jid.startswith("romeo@localhost/")

    # Delivery to the bare JID needs an available resource, as for any client.
    romeo.send_presence()
    romeo.receive(lambda e: stanza.local_name(e) == "presence")
    juliet.send_message("romeo@localhost", "Wherefore art thou?")
    received = romeo.receive(is_message, timeout=2)
    assert received.tag == "{jabber:client}message"
    assert received.get("from") == "juliet@localhost/balcony"
    assert body_of(received) == "Wherefore art thou?"

    # Raw stanzas go out unchanged; the answer to a raw IQ is matched by its id.
    juliet.send(f'<message to="{romeo.jid}" id="raw1"><body>raw</body></message>')
    raw = romeo.receive(lambda e: e.get("id") == "raw1")
    assert body_of(raw) == "raw"
    assert romeo.pending() == []


def test_roster_get_and_receive_timeout_lists_what_arrived(server):
    server.create_user("ann", "localhost", "pw")
    ann = server.connect("ann@localhost", "pw")
    roster = ann.roster_get()
    assert roster.get("type") == "result"
    assert roster.find("{jabber:iq:roster}query") is not None

    ann.send('<iq type="get" id="v1" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>')
    with pytest.raises(ReceiveTimeout) as caught:
        ann.receive(is_message, timeout=0.3)
    assert 'id="v1"' in str(caught.value)  # the pong that did arrive is listed
    assert [e.get("id") for e in ann.pending()] == ["v1"]


def test_clients_do_not_answer_subscriptions_on_their_own(server):
    server.create_user("ann", "localhost", "pw")
    server.create_user("bob", "localhost", "pw")
    ann = server.connect("ann@localhost", "pw")
    bob = server.connect("bob@localhost", "pw")
    bob.send_presence()
    ann.roster_get()  # roster pushes go only to resources that fetched the roster
    ann.send('<presence to="bob@localhost" type="subscribe"/>')
    request = bob.receive(lambda e: e.get("type") == "subscribe")
    assert request.get("from") == "ann@localhost"
    with pytest.raises(ReceiveTimeout):
        ann.receive(lambda e: stanza.local_name(e) == "presence", timeout=0.3)
    # The roster push for ann's pending request arrived and was answered like any client.
    push = ann.receive(lambda e: e.get("type") == "set")
    assert push.find("{jabber:iq:roster}query/{jabber:iq:roster}item").get("ask") == "subscribe"


def test_create_user_again_overwrites_the_password(server):
    server.create_user("kim", "localhost", "old")
    server.create_user("kim", "localhost", "new")
    with pytest.raises(TargetError, match="authentication failed"):
        server.connect("kim@localhost", "old")
    assert server.connect("kim@localhost", "new").jid.startswith("kim@localhost/")


def plain_login(port: int, username: str, host: str, password: str) -> bool:
    """SASL PLAIN by hand (slixmpp prefers SCRAM): True on <success/>."""
    credentials = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(
            f"<stream:stream to='{host}' xmlns='jabber:client' version='1.0' "
            "xmlns:stream='http://etherx.jabber.org/streams'>".encode()
        )
        received = b""
        while b"</stream:features>" not in received:
            received += sock.recv(4096)
        assert b"<mechanism>PLAIN</mechanism>" in received
        sock.sendall(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
            f"{credentials}</auth>".encode()
        )
        while b"<success" not in received and b"<failure" not in received:
            received += sock.recv(4096)
        sock.sendall(b"</stream:stream>")
        return b"<success" in received


def test_accounts_written_into_the_store_work_for_scram_and_plain(server):
    started = time.monotonic()
    server.create_user("quick", "localhost", "pa ss:w")  # printable ASCII, a space too
    assert time.monotonic() - started < 0.5
    account = server.directory / "data" / "localhost" / "accounts" / "quick.dat"
    assert "stored_key" in account.read_text()
    assert server.connect("quick@localhost", "pa ss:w")  # slixmpp picks SCRAM-SHA-1
    assert plain_login(server.c2s_port, "quick", "localhost", "pa ss:w")
    assert not plain_login(server.c2s_port, "quick", "localhost", "wrong")


def test_accounts_prosodyctl_must_create_still_work(servers):
    # internal_plain accounts and names needing stringprep go through prosodyctl.
    plain = Profile(options={"authentication": "internal_plain"})
    target = servers.start(plain)
    target.create_user("pat", "localhost", "pw")
    assert "password" in (target.directory / "data/localhost/accounts/pat.dat").read_text()
    assert target.connect("pat@localhost", "pw")
    default = servers.start()
    default.create_user("Mixed", "localhost", "pässword")
    assert default.connect("mixed@localhost", "pässword")


def test_login_failures_are_clear_errors_not_hangs(server):
    started = time.monotonic()
    with pytest.raises(TargetError, match="authentication failed"):
        server.connect("nobody@localhost", "whatever")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with pytest.raises(TargetError, match="cannot connect to 127.0.0.1"):
        XmppClient.connect("a@localhost", "pw", "127.0.0.1", closed_port, timeout=3)
    assert time.monotonic() - started < 3
    with pytest.raises(TargetError, match="not a virtual host"):
        server.create_user("x", "elsewhere.test", "pw")


def test_error_lines_and_tracebacks_are_detected(servers):
    target = servers.start(
        Profile(hosts={"localhost": VirtualHostProfile("localhost", ["harness_probe"])}),
        modules_dir=PROBE_MODULES,
    )
    servers.expect_log_noise(target)
    assert target.error_lines() == []

    assert target.http("GET", "/harness_probe/fail").status == 500
    (failure,) = wait_for_log(target, lambda line: "deliberate failure" in line.message)
    assert failure.level == "error" and failure.is_error
    assert failure.source == "http.server"
    # The traceback's continuation lines stay attached to their entry.
    assert "stack traceback:" in failure.message
    assert "mod_harness_probe.lua:11" in failure.message

    assert target.http("GET", "/harness_probe/warn").text() == "logged"
    (odd,) = wait_for_log(target, lambda line: "odd but survivable" in line.message)
    assert odd.level == "warn" and odd.is_error  # a traceback counts even below error
    assert {id(line) for line in target.error_lines()} == {id(failure), id(odd)}


def test_hosts_and_components_with_their_own_modules(servers):
    profile = Profile(
        hosts={
            "localhost": VirtualHostProfile("localhost"),
            "other.test": VirtualHostProfile("other.test", modules_disabled=["ping"]),
        },
        components={
            # Unlocked rooms: no owner configuration step before others may join.
            "rooms.localhost": ComponentProfile(
                "rooms.localhost", "muc", options={"muc_room_locking": False}
            )
        },
    )
    target = servers.start(profile)
    target.create_user("ann", "localhost", "pw")
    target.create_user("bob", "localhost", "pw")
    target.create_user("eve", "other.test", "pw")
    ann = target.connect("ann@localhost", "pw")
    bob = target.connect("bob@localhost", "pw")
    eve = target.connect("eve@other.test", "pw")

    self_presence = ann.muc_join("garden@rooms.localhost", "Ann")
    assert self_presence.get("from") == "garden@rooms.localhost/Ann"
    bob.muc_join("garden@rooms.localhost", "Bob")
    ann.receive(lambda e: e.get("from") == "garden@rooms.localhost/Bob")
    ann.send('<message to="garden@rooms.localhost" type="groupchat"><body>hi all</body></message>')
    echoed = bob.receive(lambda e: is_message(e) and body_of(e) == "hi all")
    assert echoed.get("from") == "garden@rooms.localhost/Ann"
    assert bob.muc_leave("garden@rooms.localhost", "Bob").get("type") == "unavailable"

    # mod_ping is disabled on other.test only.
    ping = '<iq type="get" to="{host}"><ping xmlns="urn:xmpp:ping"/></iq>'
    assert ann.query(ping.format(host="localhost")).get("type") == "result"
    assert eve.query(ping.format(host="other.test")).get("type") == "error"


def test_two_servers_run_side_by_side(servers):
    first = servers.start()
    second = servers.start()
    assert {first.c2s_port, first.http_port}.isdisjoint({second.c2s_port, second.http_port})
    assert first.directory != second.directory
    first.create_user("solo", "localhost", "pw")
    assert first.connect("solo@localhost", "pw")
    with pytest.raises(TargetError, match="authentication failed"):
        second.connect("solo@localhost", "pw")  # its own data directory
    assert first.http("GET", "/").status == second.http("GET", "/").status == 200


def test_stop_leaves_nothing_behind_and_is_idempotent(servers):
    target = servers.start()
    pid, directory = target.pid, target.directory
    target.create_user("u", "localhost", "pw")
    target.connect("u@localhost", "pw")
    target.stop()
    assert not process_exists(pid)
    assert not directory.exists()
    target.stop()
    with pytest.raises(TargetError, match="not started"):
        target.http("GET", "/")
    assert any("Shutdown complete" in line.message for line in target.log())


def test_keep_env_keeps_the_directory_for_debugging(servers, monkeypatch):
    monkeypatch.setenv("PROSODY_HARNESS_KEEP", "1")
    target = servers.start()
    directory = target.directory
    target.stop()
    try:
        assert (directory / "prosody.cfg.lua").exists()
        assert (directory / "prosody.log").exists()
    finally:
        shutil.rmtree(directory)


def test_missing_module_fails_start_with_reason_and_log_tail(tmp_path):
    profile = Profile(hosts={"localhost": VirtualHostProfile("localhost", ["no_such_thing"])})
    target = ProsodyTarget(profile, modules_dir=str(tmp_path))
    started = time.monotonic()
    with pytest.raises(TargetError) as caught:
        target.start()
    message = str(caught.value)
    assert "Unable to load module 'no_such_thing'" in message
    assert "log tail:" in message and "Hello and welcome to Prosody" in message
    assert time.monotonic() - started < 5
    assert target.pid is None and target.directory is None


def test_config_prosody_rejects_fails_start_with_its_output():
    clash = Profile(
        hosts={"same.test": VirtualHostProfile("same.test")},
        components={"same.test": ComponentProfile("same.test", "muc")},
    )
    with pytest.raises(TargetError) as caught:
        ProsodyTarget(clash).start()
    message = str(caught.value)
    assert "prosody exited with status" in message
    assert "clashes with previously defined" in message  # Prosody's own words


def test_profile_the_harness_cannot_render_fails_before_spawning():
    target = ProsodyTarget(Profile(options={"c2s_ports": [5222]}))
    with pytest.raises(TargetError, match="invalid profile: .*c2s_ports is set by the harness"):
        target.start()
    assert target.pid is None and target.directory is None  # nothing left behind


def test_bad_binary_and_missing_modules_dir_are_clear(tmp_path):
    with pytest.raises(TargetError, match="not an executable file"):
        ProsodyTarget(Profile(), prosody=str(tmp_path / "prosody")).start()
    with pytest.raises(TargetError, match="does not exist"):
        ProsodyTarget(Profile(), modules_dir=str(tmp_path / "nope")).start()


def test_not_ready_within_the_bound_reports_it(tmp_path):
    # A "prosody" that never listens: start must give up at the bound, and kill it. (Its
    # CFG_SOURCEDIR line, valid shell too, is how the harness finds a launcher's sources.)
    fake = tmp_path / "prosody"
    fake.write_text(
        "#!/bin/sh\nCFG_SOURCEDIR='/usr/lib/prosody';\necho pretending to start\nexec sleep 30\n"
    )
    fake.chmod(0o755)
    target = ProsodyTarget(Profile(), prosody=str(fake), ready_timeout=0.5)
    with pytest.raises(TargetError) as caught:
        target.start()
    assert "not ready within 0.5 s" in str(caught.value)
    assert "pretending to start" in str(caught.value)


def process_exists(pid: int) -> bool:
    """True while the process runs (a zombie awaiting its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_boot_is_fast(servers):
    target = servers.start()
    assert target.boot_seconds < 2.0, f"boot took {target.boot_seconds:.3f} s"
    assert os.path.exists(target.config_path)


def _bind(port: int, reuse: bool) -> None:
    with socket.socket() as sock:
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_its_ports_are_held_from_their_pick_until_the_server_is_gone(servers, monkeypatch):
    """Between picking its ports and Prosody binding them, nobody else gets them (a mock
    backend of another server did, once, and blocked it); Prosody, binding with
    SO_REUSEADDR, does. A start that fails lets them go."""
    seen = {}
    launch = ProsodyTarget._launch

    def checking_launch(target):
        for name, port in (("c2s", target.c2s_port), ("http", target.http_port)):
            with pytest.raises(OSError):
                _bind(port, reuse=False)  # any other program
            _bind(port, reuse=True)  # as Prosody's socket.bind does
            seen[name] = port
        launch(target)

    monkeypatch.setattr(ProsodyTarget, "_launch", checking_launch)
    server = servers.start()
    assert seen == {"c2s": server.c2s_port, "http": server.http_port}
    server.create_user("juliet", "localhost", "s3cret")
    server.connect("juliet@localhost", "s3cret")  # it listens on the held port

    def failing_launch(target):
        seen["failed"] = (target.c2s_port, target.http_port)
        raise TargetError("no server this time")

    monkeypatch.setattr(ProsodyTarget, "_launch", failing_launch)
    with pytest.raises(TargetError):
        ProsodyTarget(Profile()).start()
    for port in seen["failed"]:
        _bind(port, reuse=False)  # let go (never connected to: no TIME_WAIT either)
