"""HTTP routes served by Prosody's own mod_http and net.http.server on a real loopback port."""

from __future__ import annotations

import json
import threading

import pytest
import requests

from harness.profile import Profile, VirtualHostProfile
from harness.sandbox import Sandbox
from harness.sandbox.target import SandboxTarget


@pytest.fixture
def routes(sandbox):
    sandbox.load_module("probe_http")
    return sandbox


def test_route_patterns_and_the_default_base_path(routes):
    url = routes.http_url
    got = requests.get(f"{url}/probe_http/echo?a=1&b=two", headers={"X-Probe": "hi"}, timeout=5)
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/json"
    echo = got.json()
    assert echo["method"] == "GET" and echo["path"] == "/probe_http/echo"
    assert echo["query"] == "a=1&b=two" and echo["header"] == "hi"
    posted = requests.post(f"{url}/probe_http/echo/deeper/still", data=b"payload", timeout=5).json()
    assert posted["method"] == "POST" and posted["wildcard"] == "deeper/still"
    assert posted["body"] == "payload"
    # A bare method routes the base path itself.
    assert requests.put(f"{url}/probe_http", timeout=5).text == "bare method at /probe_http"
    assert requests.get(f"{url}/probe_http/unrouted", timeout=5).status_code == 404


def test_return_conventions(routes):
    url = f"{routes.http_url}/probe_http"
    assert requests.get(f"{url}/created", timeout=5).status_code == 201
    forbidden = requests.get(f"{url}/forbidden", timeout=5)
    assert forbidden.status_code == 403 and "403" in forbidden.text  # mod_http_errors page
    table = requests.get(f"{url}/table", timeout=5)
    assert (table.status_code, table.headers["x-probe"], table.text) == (202, "yes", "accepted")
    assert requests.get(f"{url}/error", timeout=5).status_code == 401


def test_a_route_raising_gives_500_and_an_error_line(routes, errors):
    got = requests.get(f"{routes.http_url}/probe_http/explode", timeout=5)
    assert got.status_code == 500
    assert any(
        "route exploded" in message and "mod_probe_http.lua:" in message
        for message in errors(routes)
    )


def test_a_promise_answers_when_it_resolves_on_the_virtual_clock(routes):
    answers = []
    request = threading.Thread(
        target=lambda: answers.append(
            requests.get(f"{routes.http_url}/probe_http/later", timeout=5)
        )
    )
    request.start()
    request.join(0.3)
    assert request.is_alive() and not answers  # waiting for the timer, not for real time
    routes.advance(1)
    request.join(5)
    assert answers and answers[0].text == "resolved after a second"


def test_http_paths_and_the_target_http_method(sandbox):
    profile = Profile(
        hosts={
            "localhost": VirtualHostProfile(
                "localhost",
                modules_enabled=["probe_http"],
                options={"http_paths": {"probe_http": "/elsewhere"}},
            )
        }
    )
    target = SandboxTarget(profile, modules_dir=sandbox.plugin_dirs[0])
    with target:
        got = target.http("POST", "/elsewhere/echo/x", {"X-Probe": "t"}, b"body")
        assert got.status == 200
        assert json.loads(got.body)["header"] == "t"
        assert target.http_url.startswith("http://127.0.0.1:")
        assert target.http("GET", "/probe_http/echo").status == 404
    assert not isinstance(target.sandbox, Sandbox) or target.sandbox.lua is None


def test_the_harness_s_own_request_brings_a_large_body_whole(sandbox):
    """Sandbox.http hands the request to Lua in process, in the 64 KB pieces a socket
    would bring: a body of several pieces reaches the route whole, and in order."""
    profile = Profile(
        hosts={"localhost": VirtualHostProfile("localhost", modules_enabled=["probe_http"])}
    )
    body = b"".join(b"%07d;" % n for n in range(40_000))  # 320 KB, each piece different
    with SandboxTarget(profile, modules_dir=sandbox.plugin_dirs[0]) as target:
        got = target.http("POST", "/probe_http/echo/big", {"X-Probe": "big"}, body)
        assert got.status == 200
        echo = json.loads(got.body)
        assert echo["header"] == "big" and echo["wildcard"] == "big"
        assert echo["body"] == body.decode()
        # The next request on the same target is a connection of its own, answered too.
        assert target.http("GET", "/probe_http/created").status == 201
