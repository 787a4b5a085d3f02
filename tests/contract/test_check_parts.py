"""The pieces of harness.contract on their own: JIDs, URL encodings, certificate names,
reply parsing, the findings model, and a certificate only Python would accept."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.contract import jid, muc_auth, roster, stanza_schema, tls_check
from harness.contract.findings import CheckReport, Severity
from harness.contract.webhook_replies import clean_text, parse_reply


@pytest.mark.parametrize(
    "text, prepped",
    [
        ("Marie@Example.COM", "marie@example.com"),
        ("JÖRG@example.com/Phone", "jörg@example.com/Phone"),
        ("example.com", "example.com"),
        ("example.com.", "example.com"),
        ("a@b/c/d@e", "a@b/c/d@e"),
        ("d\\27artagnan@example.com", "d\\27artagnan@example.com"),
        ("not a jid@example.com", None),
        ("@example.com", None),
        ("a@b@c", None),
        ("a@b/", None),
        ("", None),
        ("x" * 1024 + "@example.com", None),
    ],
)
def test_jid_prep_as_util_jid(text, prepped):
    assert jid.prep(text) == prepped


def test_usernames_and_query_values_are_encoded_like_the_modules():
    assert roster.url_encode("x?y#z") == "x%3Fy%23z"
    assert roster.url_encode("jörg.~_-") == "j%C3%B6rg.~_-"
    assert roster.roster_url("http://a/%s/r?u=%s", "a b") == "http://a/a%20b/r?u=a%20b"
    assert muc_auth.urlencode("jörg@x y") == "j%c3%b6rg%40x%20y"


def test_reply_parsing():
    assert parse_reply(b"<message type='chat'/>", "application/xmpp+xml", "message")[1] is None
    assert parse_reply(b'<?xml version="1.0"?><iq type="result"/>', "text/xml", "iq")[0] is not None
    assert "doctype" in parse_reply(b"<!DOCTYPE x><iq/>", "text/xml", "iq")[1].lower()
    deep = b"<iq>" + b"<a>" * 1000 + b"</a>" * 1000 + b"</iq>"
    assert "deeper" in parse_reply(deep, "application/xmpp+xml", "iq")[1]
    assert "larger" in parse_reply(b" " * 200_000, "application/json", "iq")[1]
    reply, problem = parse_reply(
        b'{"type": "available", "status": "hi"}', "application/json", "presence"
    )
    assert problem is None and reply is not None and reply.type is None
    assert "control" in parse_reply(b'{"body": "a\\u0001"}', "application/json", "message")[1]
    assert (
        "does not belong"
        in parse_reply(b'{"kind": "message", "show": "away"}', "application/json", "message")[1]
    )
    assert clean_text(b" Backend overloaded \n") == "Backend overloaded"
    assert clean_text(("é" * 600).encode()) == "é" * 512  # cut at 1,024 bytes, whole chars
    assert clean_text(b"   ") is None


def test_the_stanza_schema_comes_from_the_module_and_is_optional(tmp_path: Path):
    assert stanza_schema.stanza_validator() is not None
    assert stanza_schema.stanza_validator(tmp_path / "missing.yaml") is None


def test_findings_merge_and_exit_statuses():
    report = CheckReport("roster", "http://x/%s", "mod_http_roster_admin", 5, True)
    report.add(Severity.WARNING, "w", "same", "effect", probe="a")
    report.add(Severity.WARNING, "w", "same", "effect", probe="b")
    assert len(report.findings) == 1 and report.findings[0].probe == "a, b"
    assert report.exit_status() == 0 and report.exit_status(strict=True) == 1
    report.add(Severity.VIOLATION, "v", "bad", "fails")
    assert report.exit_status() == 1
    assert [f.code for f in report.sorted_findings()] == ["v", "w"]
    report.unreachable = "down"
    assert report.exit_status() == 2


def test_prosody_matches_dns_names_only():
    assert tls_check.prosody_accepts_name("app.example.com", ["app.example.com"], [])
    assert tls_check.prosody_accepts_name("app.example.com", ["*.example.com"], [])
    assert not tls_check.prosody_accepts_name("a.b.example.com", ["*.example.com"], [])
    assert tls_check.prosody_accepts_name("127.0.0.1", [], ["127.0.0.1"])
    assert not tls_check.prosody_accepts_name("127.0.0.1", ["localhost"], ["127.0.0.1"])


def _cert(subject: str, key, issuer: x509.Name, signer, ca: bool, ip: str | None = None):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
        )
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture
def ip_only_server(tmp_path: Path):
    """An https roster app on 127.0.0.1 whose certificate names the address as an IP only."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert(
        "test CA",
        ca_key,
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")]),
        ca_key,
        True,
    )
    leaf = _cert("roster app", key, ca.subject, ca_key, False, ip="127.0.0.1")
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (tmp_path / "leaf.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )

    class Roster(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Roster)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "leaf.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/contacts/%s", str(tmp_path / "ca.pem")
    server.shutdown()
    server.server_close()


def test_an_ip_address_certificate_that_prosody_would_refuse(check, ip_only_server):
    url, ca_file = ip_only_server
    run = check("roster", url, "--ca-file", ca_file)
    found = run.finding("tls.ip-address-name")
    assert found["severity"] == "violation" and "DNS names: none" in found["summary"]
    assert "add 127.0.0.1 as a DNS name" in found["hint"]
    assert len(run.probes()) == 4  # the rest is checked all the same
