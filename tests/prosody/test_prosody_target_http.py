"""The prosody target's HTTP: a built-in module's endpoint, a module from a folder the user
names, and requests that go straight to the server whatever proxy the environment names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.profile import Profile, VirtualHostProfile

pytestmark = [
    pytest.mark.prosody,
    pytest.mark.skipif(shutil.which("prosody") is None, reason="prosody is not installed"),
]

PROBE_MODULES = str(Path(__file__).parent / "modules")


def test_http_endpoint_of_a_builtin_module(servers, tmp_path):
    (tmp_path / "hello.txt").write_text("hello from disk\n")
    profile = Profile(
        hosts={
            "localhost": VirtualHostProfile(
                "localhost",
                modules_enabled=["http_files"],
                options={"http_files_dir": str(tmp_path)},
            )
        }
    )
    target = servers.start(profile)
    response = target.http("GET", "/files/hello.txt")
    assert response.status == 200
    assert response.text() == "hello from disk\n"
    assert response.headers["content-type"].startswith("text/plain")
    assert target.http("GET", "/files/missing.txt").status == 404


def test_module_from_a_user_named_directory_serves_http(servers):
    target = servers.start(
        Profile(hosts={"localhost": VirtualHostProfile("localhost", ["harness_probe"])}),
        modules_dir=PROBE_MODULES,
    )
    response = target.http("GET", "/harness_probe/echo")
    assert response.status == 200
    assert response.json() == {"path": "/harness_probe/echo", "host": "localhost"}


def test_http_requests_go_straight_to_the_server_whatever_proxy_the_environment_names(
    server, monkeypatch
):
    # A CI machine's HTTP_PROXY is for the outside world: the server is this machine's.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    assert server.http("GET", "/no-such-route").status == 404
