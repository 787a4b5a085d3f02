"""Helpers shared by mod_rest's tests: profiles, credentials, a /rest client, log checks."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import requests

from harness.profile import ComponentProfile, Profile, VirtualHostProfile
from harness.targets.prosody import ProsodyTarget

REPO = Path(__file__).resolve().parents[2]
TEST_MODULES = Path(__file__).resolve().parent / "modules"
MODULES = {
    "mod_rest": REPO / "lua_modules" / "mod_rest",
    "mod_http_auth_cache": REPO / "lua_modules" / "mod_http_auth_cache",
    "mod_rest_test_tokens": TEST_MODULES / "mod_rest_test_tokens",
}
HOST = "localhost"
COMPONENT = "rest.localhost"
PASSWORD = "s3cret"
SECRET = "c0mp0nent-s3cret"
XML = "application/xmpp+xml"
JSON = "application/json"


def basic(user: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def host_profile(**options: Any) -> Profile:
    return Profile(
        hosts={HOST: VirtualHostProfile(HOST, modules_enabled=["rest"], options=options)}
    )


def component_profile(**options: Any) -> Profile:
    return Profile(
        components={
            COMPONENT: ComponentProfile(
                COMPONENT, "rest", options={"component_secret": SECRET, **options}
            )
        }
    )


class RestClient:
    """POSTs and GETs to one Prosody's /rest, with a Host header and credentials."""

    def __init__(
        self, target: ProsodyTarget, authorization: str | None = None, host: str = HOST
    ) -> None:
        self.base = target.http_url
        self.authorization = authorization
        self.host = host
        self.session = requests.Session()

    def request(
        self,
        method: str,
        path: str = "/rest",
        body: bytes | str | None = None,
        content_type: str | None = None,
        timeout: float = 10,
        **headers: str,
    ) -> requests.Response:
        sent = {"Host": self.host}
        if self.authorization:
            sent["Authorization"] = self.authorization
        if content_type:
            sent["Content-Type"] = content_type
        sent.update({key.replace("_", "-"): value for key, value in headers.items()})
        data = body.encode() if isinstance(body, str) else body
        return self.session.request(
            method, self.base + path, data=data, headers=sent, timeout=timeout
        )

    def post_json(self, payload: Any, path: str = "/rest", **headers: str) -> requests.Response:
        return self.request("POST", path, json.dumps(payload), JSON, **headers)

    def post_xml(self, payload: str, path: str = "/rest", **headers: str) -> requests.Response:
        return self.request("POST", path, payload, XML, **headers)


def log_problems(target: ProsodyTarget) -> list[str]:
    """Error-level lines and tracebacks in the log."""
    return [
        line.raw
        for line in target.log()
        if line.level == "error" or "traceback" in line.message.lower()
    ]
