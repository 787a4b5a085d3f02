"""A small in-memory Target for testing the runner's own logic (not a Prosody emulation).

It routes messages and presence between its clients by JID, answers a roster get with
an empty roster, and serves a few HTTP paths that let tests drive the runner:
  /echo              JSON of the request it got
  /roster/USER       fetches USER's roster from the profile's http_roster_url (real HTTP)
  /log-error         writes an error line to the log
  /unsupported       raises Unsupported
  /count             the number of times it was asked, as text (for polling)
Every instance is recorded in FakeTarget.instances so tests can count server starts.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

import requests

from harness.profile import DEFAULT_HOST, Profile
from harness.stanza import CLIENT_NS
from harness.target import (
    Client,
    HttpResponse,
    LogLine,
    ReceiveTimeout,
    Target,
    TargetError,
    Unsupported,
)


class FakeClient(Client):
    def __init__(self, target: FakeTarget, jid: str):
        self.target = target
        self.jid = jid
        self.queue: list[ET.Element] = []
        self.condition = threading.Condition()

    def deliver(self, stanza: ET.Element) -> None:
        with self.condition:
            self.queue.append(stanza)
            self.condition.notify_all()

    def send(self, stanza: ET.Element | str) -> None:
        element = stanza if isinstance(stanza, ET.Element) else ET.fromstring(stanza)
        self.target.route(self, element)

    def receive(
        self, match: Callable[[ET.Element], bool] | None = None, timeout: float = 2.0
    ) -> ET.Element:
        deadline = time.monotonic() + timeout
        with self.condition:
            while True:
                for stanza in self.queue:
                    if match is None or match(stanza):
                        self.queue.remove(stanza)
                        return stanza
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ReceiveTimeout(f"nothing matching within {timeout} s")
                self.condition.wait(left)

    def pending(self) -> list[ET.Element]:
        with self.condition:
            return list(self.queue)

    def disconnect(self) -> None:
        self.target.sessions.pop(self.jid, None)


class FakeTarget(Target):
    instances: list[FakeTarget] = []

    def __init__(self, profile: Profile, modules_dir: str | None = None):
        self.profile = profile
        self.modules_dir = modules_dir
        self.name = "fake"
        self.accounts: dict[str, str] = {}
        self.sessions: dict[str, FakeClient] = {}
        self.lines: list[LogLine] = []
        self.running = False
        self.counter = 0
        self.counted = 0
        FakeTarget.instances.append(self)

    def start(self) -> None:
        if self.profile.options.get("fake_refuse_start"):  # a profile that cannot start
            raise TargetError("fake_refuse_start is set")
        self.running = True
        self._log("info", "general", "server started")

    def stop(self) -> None:
        self.running = False

    def create_user(self, username: str, host: str, password: str) -> None:
        self.accounts[f"{username}@{host}"] = password

    def connect(self, jid: str, password: str, resource: str | None = None) -> Client:
        if self.accounts.get(jid) != password:
            raise TargetError(f"authentication failed for {jid}")
        self.counter += 1
        client = FakeClient(self, f"{jid}/{resource or f'res{self.counter}'}")
        self.sessions[client.jid] = client
        self._log("info", "c2s", f"Authenticated as {jid}")
        return client

    def route(self, sender: FakeClient, stanza: ET.Element) -> None:
        to = stanza.get("to")
        if stanza.tag == f"{{{CLIENT_NS}}}iq" and to is None:
            answer = ET.Element(
                f"{{{CLIENT_NS}}}iq", {"type": "result", "id": stanza.get("id", "")}
            )
            for child in stanza:
                ET.SubElement(answer, child.tag)
            sender.deliver(answer)
            return
        for jid, client in list(self.sessions.items()):
            if to in (jid, jid.split("/")[0]):
                copied = copy.deepcopy(stanza)
                copied.set("from", sender.jid)
                client.deliver(copied)

    def http(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 10.0,
    ) -> HttpResponse:
        headers = headers or {}
        if path == "/echo":
            echo = {
                "method": method,
                "path": path,
                "headers": headers,
                "body": (body or b"").decode(),
            }
            return HttpResponse(
                200, {"content-type": "application/json"}, json.dumps(echo).encode()
            )
        if path.startswith("/roster/"):
            url = self.profile.hosts[DEFAULT_HOST].options["http_roster_url"]
            answer = requests.get(url % path.split("/", 2)[2], timeout=timeout)
            return HttpResponse(answer.status_code, {}, answer.content)
        if path == "/log-error":
            self._log("error", "localhost:http", "something broke")
            return HttpResponse(200, {}, b"")
        if path == "/unsupported":
            raise Unsupported("the fake target has no such thing")
        if path == "/count":
            self.counted += 1
            return HttpResponse(200, {}, str(self.counted).encode())
        return HttpResponse(404, {"content-type": "text/plain"}, b"not found")

    @property
    def http_url(self) -> str:
        return "http://127.0.0.1:9"

    def log(self) -> list[LogLine]:
        return list(self.lines)

    def _log(self, level: str, source: str, message: str) -> None:
        self.lines.append(LogLine(level, source, message, f"{source}\t{level}\t{message}"))


class StrictFakeTarget(FakeTarget):
    """Disagrees with FakeTarget on /echo, to test verdict comparison across targets."""

    def http(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 10.0,
    ) -> HttpResponse:
        if path == "/echo":
            return HttpResponse(500, {}, b"strict")
        return super().http(method, path, headers, body, timeout)


class BrokenFakeTarget(FakeTarget):
    """Never starts, like docker without an engine."""

    def start(self) -> None:
        raise TargetError("no engine here")
