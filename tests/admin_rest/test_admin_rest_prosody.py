"""mod_admin_rest on real Prosody 0.12 and 13: what the scenario files cannot express.

* a deleted user's XMPP login failing, a session's real client port;
* the log never holding a refused password; the credential cache forgetting a changed one;
* a configuration reload with an edited file, the module reloading and unloading itself;
* admins of another host and (13) admins by role rather than by the `admins` list;
* many hostile requests in one run: never a 5xx, always a JSON error.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from admin_rest_support import (
    ADMIN,
    HOST,
    Api,
    Servers,
    StartServer,
    admin_profile,
)

from harness.target import TargetError
from harness.targets.prosody import ProsodyTarget

pytestmark = pytest.mark.prosody


def errors_of(target: ProsodyTarget) -> list[str]:
    return [line.raw for line in target.log() if line.is_error]


# -- accounts and sessions -----------------------------------------------------------------


def test_deleted_user_is_disconnected_and_cannot_log_in(start_server: StartServer) -> None:
    server = start_server()
    api = Api(server)
    server.create_user("john", HOST, "s3cret")
    client = server.connect(f"john@{HOST}", "s3cret")
    assert api("GET", "/user/john/connected").status == 200

    answer = api("DELETE", "/user/john")
    assert answer.status == 200
    assert answer.json() == {
        "result": {"username": "john", "jid": "john@localhost", "deleted": True}
    }

    # The server closes the stream: the client sees it end.
    deadline = time.monotonic() + 5
    while client.connected and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not client.connected, "the deleted user's stream is still open"
    with pytest.raises(TargetError):
        server.connect(f"john@{HOST}", "s3cret")
    assert api("GET", "/users/count").json() == {"result": {"count": 0}}


def test_session_lists_the_client_port(start_server: StartServer) -> None:
    server = start_server()
    server.create_user("john", HOST, "s3cret")
    server.connect(f"john@{HOST}", "s3cret", "phone")
    session = Api(server)("GET", "/user/john").json()["result"]["user"]["sessions"][0]
    assert session["resource"] == "phone"
    assert session["ip"] == "127.0.0.1"
    assert session["secure"] is False
    assert isinstance(session["port"], int) and 1024 <= session["port"] <= 65535
    assert isinstance(session["id"], str) and session["id"]


def test_regip_is_stored_with_the_account(start_server: StartServer) -> None:
    server = start_server()
    answer = Api(server)("POST", "/user/newbie", {"password": "n3w", "regip": "192.0.2.10"})
    assert answer.status == 201
    stored = list(Path(server.directory, "data").rglob("account_details/newbie.dat"))
    assert stored, "no account_details record"
    assert "192.0.2.10" in stored[0].read_text()


def test_user_get_with_a_thousand_roster_items(start_server: StartServer) -> None:
    server = start_server()
    api = Api(server)
    server.create_user("john", HOST, "s3cret")
    item = '{{ subscription = "both"; groups = {{ ["G"] = true }}; name = "C{0}" }}'
    roster = ",\n".join(f'["c{i}@example.org"] = ' + item.format(i) for i in range(1000))
    roster_dir = Path(server.directory, "data", HOST, "roster")
    roster_dir.mkdir(parents=True, exist_ok=True)
    (roster_dir / "john.dat").write_text(f"return {{\n{roster},\n[false] = {{ version = 1 }} }};\n")
    answer = api("GET", "/user/john")
    assert answer.status == 200
    assert len(answer.json()["result"]["user"]["roster"]) == 1000
    assert api("GET", "/roster/john").json()["result"]["count"] == 1000


# -- credentials ---------------------------------------------------------------------------


def test_refused_credentials_are_logged_without_the_password(start_server: StartServer) -> None:
    server = start_server()
    api = Api(server)
    server.create_user("john", HOST, "johns-own-password")
    secret = "Tr0ub4dor-and-3"
    assert api("GET", "/ping", auth=(ADMIN, secret)).status == 401
    assert api("GET", "/ping", auth=("john", "johns-own-password")).status == 403
    assert api("GET", "/ping", auth=("ghost@localhost", secret)).status == 401
    assert api("GET", "/ping", auth=(None, "")).status == 401
    refusals = [line for line in server.log() if "Refused GET" in line.message]
    assert [line.level for line in refusals] == ["warn"] * 4
    assert "wrong password" in refusals[0].message and ADMIN in refusals[0].message
    assert "not an administrator" in refusals[1].message
    assert "no credentials" in refusals[3].message
    everything = "\n".join(line.raw for line in server.log())
    assert secret not in everything
    assert "johns-own-password" not in everything


def test_a_changed_admin_password_stops_working_at_once(start_server: StartServer) -> None:
    """The credential cache (mod_http_auth_cache) must not keep an old password alive."""
    server = start_server()
    api = Api(server)
    assert api("GET", "/ping").status == 200  # now cached
    assert api("PATCH", "/user/admin/password", {"password": "rotated"}).status == 200
    assert api("GET", "/ping").status == 401
    assert api("GET", "/ping", auth=(ADMIN, "rotated")).status == 200


def test_a_disabled_admin_account_is_refused_on_13(servers: Servers) -> None:
    if servers.version != "13":
        pytest.skip("accounts can be disabled only from Prosody 13 on")
    server = servers.start()
    api = Api(server)
    assert api("GET", "/ping").status == 200
    account = Path(server.directory, "data", HOST, "accounts", "admin.dat")
    text = account.read_text()
    account.write_text(text.replace("return {", "return { disabled = true;", 1))
    # The cache remembers the password, but whether the account is enabled is asked
    # on every request.
    answer = api("GET", "/ping")
    assert answer.status == 401
    assert any(
        "as admin@localhost: the account is disabled" in line.message for line in server.log()
    )


def test_an_admin_of_another_host_needs_rights_on_this_one(servers: Servers) -> None:
    from harness.profile import Profile, VirtualHostProfile

    hosts = {
        "localhost": VirtualHostProfile(
            "localhost", ["admin_rest"], [], {"admins": ["boss@example.net"]}
        ),
        "example.net": VirtualHostProfile(
            "example.net", ["admin_rest"], [], {"admins": ["local@example.net"]}
        ),
    }
    server = servers.start(Profile(hosts=hosts), admin=False)
    server.create_user("boss", "example.net", "pw")
    server.create_user("local", "example.net", "pw")
    api = Api(server)
    # boss is listed as an admin of localhost; its account lives on example.net.
    assert api("GET", "/ping", auth=("boss@example.net", "pw")).status == 200
    # local administers example.net only.
    assert api("GET", "/ping", auth=("local@example.net", "pw")).status == 403
    # A bare name means an account of the module's own host, where there is no "local".
    assert api("GET", "/ping", auth=("local", "pw")).status == 401


def test_an_admin_by_role_on_13(servers: Servers) -> None:
    """On 13 a stored prosody:admin role grants access, not only the `admins` list."""
    if servers.version != "13":
        pytest.skip("roles are stored per account only from Prosody 13 on")
    server = servers.start(admin_profile(admins=[]), admin=False)
    server.create_user("roleadmin", HOST, "pw")
    server.create_user("plain", HOST, "pw")
    api = Api(server)
    assert api("GET", "/ping", auth=("roleadmin", "pw")).status == 403
    # The record `prosodyctl shell user setrole` would store (mod_authz_internal's
    # account_roles store); the internal storage reads it afresh on each lookup.
    roles = Path(server.directory, "data", HOST, "account_roles")
    roles.mkdir(parents=True, exist_ok=True)
    (roles / "roleadmin.dat").write_text('return { ["_default"] = "prosody:admin" };\n')
    assert api("GET", "/ping", auth=("roleadmin", "pw")).status == 200
    assert api("GET", "/ping", auth=("plain", "pw")).status == 403


# -- the network: IPv6 and HTTPS -----------------------------------------------------------


def test_reload_applies_a_whitelist_edited_in_the_file(start_server: StartServer) -> None:
    server = start_server(admin_profile(admin_rest_whitelist=["127.0.0.1", "192.0.2.1"]))
    api = Api(server)
    assert api("PUT", "/whitelist/203.0.113.0/24").status == 200
    text = server.config_path.read_text()
    server.config_path.write_text(text.replace('"192.0.2.1"', '"198.51.100.0/24"'))
    answer = api("PUT", "/reload")
    assert answer.status == 200 and answer.json() == {"result": {"reloaded": True}}
    # The file changed, so it wins over the run-time addition.
    listed = api("GET", "/whitelist").json()["result"]
    assert listed["whitelist"] == ["127.0.0.1", "198.51.100.0/24"]
    forwarded = {"X-Forwarded-For": "198.51.100.7"}
    assert api("GET", "/ping", headers=forwarded).status == 200


def test_a_configuration_file_that_does_not_parse_is_a_500_and_changes_nothing(
    servers: Servers,
) -> None:
    server = servers.start(admin_profile(admin_rest_whitelist=["127.0.0.1"]))
    servers.expect_errors(server)  # Prosody logs the parse error itself
    api = Api(server)
    server.config_path.write_text(server.config_path.read_text() + "\nthis is not lua\n")
    answer = api("PUT", "/reload")
    assert answer.status == 500
    error = answer.json()["error"]
    assert error["condition"] == "internal-server-error"
    assert "could not be reloaded" in error["text"]
    assert api("GET", "/whitelist").json()["result"]["whitelist"] == ["127.0.0.1"]


def test_run_time_whitelist_survives_reloads_of_an_unchanged_file(
    start_server: StartServer,
) -> None:
    server = start_server(admin_profile(admin_rest_whitelist=["127.0.0.1"]))
    api = Api(server)
    assert api("PUT", "/whitelist/2001:db8::/32").status == 200
    assert api("PUT", "/reload").status == 200
    # The module reloading itself keeps the list too (module.save/restore).
    reloaded = api("PUT", "/module/admin_rest")
    assert reloaded.status == 200 and reloaded.json()["result"]["action"] == "reloaded"
    listed = api("GET", "/whitelist").json()["result"]
    assert listed["whitelist"] == ["127.0.0.1", "2001:db8::/32"]
    assert api("GET", "/ping", headers={"X-Forwarded-For": "2001:db8::9"}).status == 200


def test_the_module_can_unload_itself(start_server: StartServer) -> None:
    server = start_server()
    api = Api(server)
    answer = api("DELETE", "/module/admin_rest")
    assert answer.status == 200 and answer.json() == {
        "result": {"module": "admin_rest", "loaded": False}
    }
    gone = api("GET", "/ping")
    assert gone.status == 404 and b"result" not in gone.body


def test_modules_lists_what_the_host_loaded(start_server: StartServer) -> None:
    server = start_server()
    result = Api(server)("GET", "/modules").json()["result"]
    assert result["count"] == len(result["modules"])
    assert result["modules"] == sorted(result["modules"])
    for name in ("admin_rest", "http_auth_cache", "offline", "vcard", "roster", "saslauth", "ping"):
        assert name in result["modules"]


def test_a_module_that_fails_to_load_gets_a_json_error(
    servers: Servers, modules_with, tmp_path: Path
) -> None:
    broken = tmp_path / "mod_broken"
    broken.mkdir()
    (broken / "mod_broken.lua").write_text('error("broken on purpose")\n')
    server = servers.start(modules_dir=modules_with(broken))
    servers.expect_errors(server)
    answer = Api(server)("PUT", "/module/broken")
    assert answer.status == 500
    assert answer.json()["error"]["condition"] == "internal-server-error"
    assert "broken on purpose" in answer.json()["error"]["text"]
    assert Api(server)("GET", "/ping").status == 200


# -- hostile input -------------------------------------------------------------------------

HOSTILE = [
    ("POST", "/user/x", b"\xff\xfe not utf-8", "application/json"),
    ("POST", "/user/x", b'{"password": null}', "application/json"),
    ("POST", "/user/x", b'{"password": "a\\u0000b"}', "application/json"),
    ("POST", "/user/x", b'{"__array": [1]}', "application/json"),
    ("POST", "/user/x", b'{"password": "x", "regip": 12}', "application/json"),
    ("POST", "/user/x", b"[]", "application/json"),
    ("POST", "/user/x", b'"just a string"', "application/json"),
    ("POST", "/user/x", b"null", "application/json"),
    ("POST", "/user/x", b"1e999", "application/json"),
    ("POST", "/user/x", b'{"password": "x"}', "text/plain"),
    ("POST", "/user/x", b'{"password": "x"}', "application/json; charset=latin1"),
    ("POST", "/user/" + "a" * 2000, b'{"password": "x"}', "application/json"),
    ("POST", "/user/a@b@c", b'{"password": "x"}', "application/json"),
    ("POST", "/user/john@other.example", b'{"password": "x"}', "application/json"),
    ("PATCH", "/user/x", b'{"password": "x", "admin": true}', "application/json"),
    ("PATCH", "/user/x/password", b'{"email": "x"}', "application/json"),
    ("POST", "/roster/x", b'{"contact": {"jid": "a@b"}}', "application/json"),
    ("POST", "/roster/x", b'{"contact": "a@b", "groups": "G"}', "application/json"),
    ("POST", "/roster/x", b'{"contact": "a@b", "groups": [1]}', "application/json"),
    ("DELETE", "/roster/x", b"", "application/json"),
    ("DELETE", "/roster/x/%00", b"", "application/json"),
    ("POST", "/message", b'{"to": "x", "message": "y"}', "application/json"),
    ("POST", "/message", b"[]", "application/json"),
    ("POST", "/message", b"[null]", "application/json"),
    ("POST", "/message", b'[{"to": ["x"], "message": "y"}]', "application/json"),
    ("POST", "/message/x", b'{"message": ""}', "application/json"),
    ("POST", "/broadcast", b'{"message": {"text": "x"}}', "application/json"),
    ("PUT", "/vcard/x", b"<vCard xmlns='vcard-temp'>", "application/xml"),
    (
        "PUT",
        "/vcard/x",
        b"<!DOCTYPE x [<!ENTITY a 'b'>]><vCard xmlns='vcard-temp'/>",
        "application/xml",
    ),
    ("PUT", "/vcard/x", b'{"vcard": 5}', "application/json"),
    ("PUT", "/module/..%2f..%2fetc", b"", "application/json"),
    ("PUT", "/module/" + "m" * 300, b"", "application/json"),
    ("PUT", "/whitelist/999.1.1.1", b"", "application/json"),
    ("PUT", "/whitelist/10.0.0.0/-1", b"", "application/json"),
    ("PUT", "/whitelist/::1/129", b"", "application/json"),
    ("PUT", "/groups/x", b'{"name": 5}', "application/json"),
    ("PUT", "/groups/bad%20id", b'{"name": "n"}', "application/json"),
    ("PUT", "/groups/x/members/y", b'{"delay_update": "no"}', "application/json"),
    ("GET", "/%ff%fe", b"", "application/json"),
    ("GET", "/user/%ff", b"", "application/json"),
]


def test_hostile_requests_get_a_json_4xx(start_server: StartServer) -> None:
    server = start_server(admin_profile(modules=["offline", "vcard", "groups_internal"]))
    api = Api(server)
    wrong = []
    for method, path, body, content_type in HOSTILE:
        answer = api(method, path, raw=body or None, content_type=content_type)
        try:
            error = json.loads(answer.body)["error"]
            good = (
                400 <= answer.status < 500
                and set(error) == {"code", "condition", "text"}
                and error["code"] == answer.status
            )
        except (ValueError, KeyError, TypeError):
            good = False
        if not good:
            wrong.append(
                f"{method} {path[:60]} {body[:40]!r}: {answer.status} {answer.body[:200]!r}"
            )
    assert not wrong, "\n".join(wrong)
    assert errors_of(server) == []
    assert api("GET", "/ping").status == 200


def test_head_answers_like_get_without_a_body(start_server: StartServer) -> None:
    server = start_server()
    answer = Api(server)("HEAD", "/ping")
    assert answer.status == 200 and answer.body == b""
    assert Api(server)("HEAD", "/ping", auth=(None, "")).status == 401


def test_an_oversized_body_is_refused_before_it_is_parsed(start_server: StartServer) -> None:
    server = start_server(admin_profile(admin_rest_max_body_size=1000))
    answer = Api(server)("POST", "/broadcast", raw=b"{" * 5000)
    assert answer.status == 413 and answer.json()["error"]["condition"] == "body-too-large"
