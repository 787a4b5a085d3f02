"""net.http from module code goes out as real HTTP and completes on the sandbox loop."""

from __future__ import annotations

import http.server
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest
from werkzeug import Response

from harness.sandbox import tls_client


def _fetch(sandbox, url, insecure=None, body="x"):
    """Have mod_probe_fetch request `url` both ways; its results once both arrived."""
    sandbox.load_module("probe_fetch")
    sandbox.fire_event("probe/fetch", {"url": url, "body": body, "insecure": insecure})
    deadline = time.monotonic() + 10
    results = {}
    while time.monotonic() < deadline and ("callback" not in results or "promise" not in results):
        sandbox.advance(0)
        results = sandbox.fire_event("probe/results") or {}
        time.sleep(0.01)
    return results


def test_callback_and_promise_forms_reach_a_real_server(sandbox, httpserver):
    httpserver.expect_request(
        "/hook", method="POST", data="ping", headers={"X-Probe": "callback"}
    ).respond_with_response(Response("pong", status=201, headers={"X-Answer": "yes"}))
    httpserver.expect_request("/hook", method="GET", query_string="form=promise").respond_with_data(
        "promised", status=200
    )
    results = _fetch(sandbox, httpserver.url_for("/hook"), body="ping")
    assert results["callback"] == {"body": "pong", "code": 201, "header": "yes"}
    assert results["promise"] == {"body": "promised", "code": 200}
    # The callback ran later, on the loop - never inside http.request itself.
    assert results["order"] == ["before request", "after request", "callback"]
    httpserver.check_assertions()


def test_a_refused_connection_reaches_the_callback_as_code_0(sandbox):
    results = _fetch(sandbox, "http://127.0.0.1:9/nothing")
    assert results["callback"]["code"] == 0
    assert "refused" in results["callback"]["body"].lower()
    assert "error" in results["promise"]


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server with a self-signed certificate, answering every GET with 'secret'."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"secret")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    # Handshakes happen in the handler threads, so a refused one blocks nobody.
    server.socket = context.wrap_socket(
        server.socket, server_side=True, do_handshake_on_connect=False
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")
def test_https_checks_certificates_unless_the_request_is_insecure(sandbox, tls_server):
    results = _fetch(sandbox, tls_server, insecure=True)
    assert results["callback"]["code"] == 0  # verified: a self-signed certificate fails
    assert "certificate" in results["callback"]["body"].lower()
    assert results["promise"] == {"body": "secret", "code": 200}  # insecure = true


def test_a_tls_handshake_that_stalls_fails_the_request_in_bounded_time(sandbox, monkeypatch):
    monkeypatch.setattr(tls_client, "HANDSHAKE_TIMEOUT", 0.5)
    # Connections complete in the backlog, but nobody ever answers the ClientHello.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        started = time.monotonic()
        results = _fetch(sandbox, f"https://127.0.0.1:{silent.getsockname()[1]}/")
    assert time.monotonic() - started < 5
    assert results["callback"]["code"] == 0
    assert "handshake" in results["callback"]["body"].lower()
    assert "error" in results["promise"]
