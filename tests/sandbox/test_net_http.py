"""net.http from module code goes out as real HTTP and completes on the sandbox loop."""

from __future__ import annotations

import time

from werkzeug import Response


def test_callback_and_promise_forms_reach_a_real_server(sandbox, httpserver):
    httpserver.expect_request(
        "/hook", method="POST", data="ping", headers={"X-Probe": "callback"}
    ).respond_with_response(Response("pong", status=201, headers={"X-Answer": "yes"}))
    httpserver.expect_request("/hook", method="GET", query_string="form=promise").respond_with_data(
        "promised", status=200
    )
    sandbox.load_module("probe_fetch")
    sandbox.fire_event("probe/fetch", {"url": httpserver.url_for("/hook"), "body": "ping"})
    results = {}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(results) < 3:
        sandbox.advance(0)
        results = sandbox.fire_event("probe/results") or {}
        time.sleep(0.01)
    assert results["callback"] == {"body": "pong", "code": 201, "header": "yes"}
    assert results["promise"] == {"body": "promised", "code": 200}
    # The callback ran later, on the loop - never inside http.request itself.
    assert results["order"] == ["before request", "after request", "callback"]
    httpserver.check_assertions()


def test_a_refused_connection_reaches_the_callback_as_code_0(sandbox):
    sandbox.load_module("probe_fetch")
    sandbox.fire_event("probe/fetch", {"url": "http://127.0.0.1:9/nothing", "body": "x"})
    deadline = time.monotonic() + 5
    results = {}
    while time.monotonic() < deadline and "promise" not in results:
        sandbox.advance(0)
        results = sandbox.fire_event("probe/results") or {}
        time.sleep(0.01)
    assert results["callback"]["code"] == 0
    assert "refused" in results["callback"]["body"].lower()
    assert "error" in results["promise"]
