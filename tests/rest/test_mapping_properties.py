"""Property tests of mod_rest's two payload formats.

* JSON: for every mapped field, JSON -> stanza -> JSON gives the object back unchanged
  (objects in the canonical form the module writes; see README.markdown). Checked on the
  mapping library itself, inside the sandbox's Lua (fast, many examples), and end to end
  through POST /rest/echo on real Prosody 0.12 and 13.
* XML: whatever payload a stanza carries reaches the recipient unchanged, both ways:
  POSTed to /rest and delivered to a client, and sent by a client and delivered to the
  webhook.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_helpers import HOST, JSON, MODULES, PASSWORD, RestClient, basic, log_problems
from stanza_strategies import canonical, json_stanzas, payload_elements

from harness.profile import ComponentProfile, Profile, VirtualHostProfile
from harness.prosody_install import ProsodyInstallError, resolve_prosody
from harness.sandbox import Sandbox
from harness.targets.prosody import ProsodyTarget
from mock_backends.rest_callback import RestCallbackBackend

JSONMAP = MODULES["mod_rest"] / "jsonmap.lib.lua"
CLIENT_NS = "{jabber:client}"
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large]
MARKERS = itertools.count()  # a fresh stanza id for every example

ROUND_TRIP = """
local path = ...
local jsonmap = dofile(path)
local json = require "util.json"
rawset(_G, "rest_round_trip", function (text)
	local stanza, err = jsonmap.to_stanza(json.decode(text))
	if not stanza then return json.encode({ error = err }) end
	return json.encode({ object = jsonmap.to_object(stanza), xml = tostring(stanza) })
end)
"""


@pytest.fixture(scope="module")
def lua() -> Iterator[Sandbox]:
    with Sandbox(Profile()) as box:
        box.lua_eval(ROUND_TRIP, str(JSONMAP))
        yield box


@settings(max_examples=400, deadline=None, suppress_health_check=SLOW)
@given(json_stanzas)
def test_json_xml_json_is_the_identity(lua: Sandbox, stanza: dict) -> None:
    result = json.loads(lua.lua_eval("return rest_round_trip(...)", json.dumps(stanza)))
    assert "error" not in result, (stanza, result)
    assert result["object"] == stanza, result["xml"]


# -- the same through real Prosody's POST /rest/echo -----------------------------------------


@pytest.fixture(scope="module", params=["0.12", "13"], ids=lambda v: f"prosody-{v}")
def echo_server(request, tmp_path_factory) -> Iterator[ProsodyTarget]:
    try:
        resolve_prosody(request.param)
    except ProsodyInstallError as exc:
        pytest.skip(f"Prosody {request.param} is not available here: {exc}")
    folder = tmp_path_factory.mktemp("echo-modules")
    for name in ("mod_rest", "mod_http_auth_cache"):
        (folder / name).symlink_to(MODULES[name], target_is_directory=True)
    target = ProsodyTarget(
        Profile(hosts={HOST: VirtualHostProfile(HOST, ["rest"])}),
        modules_dir=str(folder),
        prosody=request.param,
    )
    target.start()
    target.create_user("john", HOST, PASSWORD)
    yield target
    assert log_problems(target) == []
    target.stop()


def as_sent_by_john(stanza: dict, resource: str | None) -> dict:
    """The object as the module sends it for john: from john, with a 'to' and an id."""
    sent = copy.deepcopy(stanza)
    sent["from"] = f"john@{HOST}" + (f"/{resource}" if resource else "")
    sent.setdefault("to", f"marie@{HOST}")
    sent.setdefault("id", "fixed-id")
    return sent


@pytest.mark.prosody
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[*SLOW, HealthCheck.function_scoped_fixture],
)
@given(stanza=json_stanzas, resource=st.one_of(st.none(), st.just("bot")))
def test_echo_on_real_prosody_returns_the_json_unchanged(
    echo_server: ProsodyTarget, stanza: dict, resource: str | None
) -> None:
    sent = as_sent_by_john(stanza, resource)
    response = RestClient(echo_server, basic("john")).post_json(sent, "/rest/echo", Accept=JSON)
    assert response.status_code == 200, response.text
    assert response.json() == sent


# -- XML payloads, both ways -----------------------------------------------------------------


@pytest.fixture(scope="module")
def xml_world() -> Iterator[tuple[Sandbox, RestCallbackBackend, object]]:
    with RestCallbackBackend({"default_status": 204}) as hook:
        profile = Profile(
            hosts={HOST: VirtualHostProfile(HOST, ["rest"])},
            components={
                "rest.localhost": ComponentProfile(
                    "rest.localhost",
                    "rest",
                    options={
                        "component_secret": "s3cr3t",
                        "rest_callback_url": hook.url + "/stanzas",
                    },
                )
            },
        )
        with Sandbox(
            profile, modules_dir=str(Path(MODULES["mod_rest"]).parent), realtime=True
        ) as box:
            box.create_user("john", HOST, PASSWORD)
            box.create_user("marie", HOST, PASSWORD)
            marie = box.connect(f"marie@{HOST}", PASSWORD, "phone")
            marie.send("<presence/>")
            marie.receive(lambda s: s.tag == f"{CLIENT_NS}presence", timeout=5)
            yield box, hook, marie


def message_with(payload: ET.Element, to: str, marker: str) -> str:
    message = ET.Element("message", {"to": to, "type": "chat", "id": marker})
    message.append(payload)
    return ET.tostring(message, encoding="unicode")


def payload_of(stanza: ET.Element) -> ET.Element:
    children = [child for child in stanza if not child.tag.startswith(CLIENT_NS)]
    assert len(children) == 1, ET.tostring(stanza)
    return children[0]


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW)
@given(payload=payload_elements())
def test_xml_posted_to_rest_reaches_the_client_unchanged(xml_world, payload: ET.Element) -> None:
    box, _, marie = xml_world
    marker = f"p{next(MARKERS)}"
    body = message_with(payload, f"marie@{HOST}", marker)
    response = box.http(
        "POST",
        "/rest",
        {"Authorization": basic("john"), "Content-Type": "application/xmpp+xml"},
        body.encode(),
    )
    assert response.status == 202, response.body
    received = marie.receive(lambda s: s.get("id") == marker, timeout=5)
    assert canonical(payload_of(received)) == canonical(payload)


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW)
@given(payload=payload_elements())
def test_xml_sent_to_the_component_reaches_the_webhook_unchanged(
    xml_world, payload: ET.Element
) -> None:
    _, hook, marie = xml_world
    marker = f"w{next(MARKERS)}"
    marie.send(message_with(payload, "bot@rest.localhost", marker))
    deadline = time.monotonic() + 5
    while True:
        found = [
            stanza
            for stanza in hook.received_stanzas()
            if isinstance(stanza, ET.Element) and stanza.get("id") == marker
        ]
        if found:
            break
        assert time.monotonic() < deadline, "the webhook did not receive the stanza"
        time.sleep(0.005)
    assert canonical(payload_of(found[0])) == canonical(payload)
