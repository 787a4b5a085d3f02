"""lua_modules/mod_admin_rest/openapi.yaml against the real module, on Prosody 0.12 and 13.

schemathesis generates requests for every operation of the document (valid ones from the
schemas and examples, and invalid ones) and checks each answer: never a 5xx, a status
code, content type, headers and body that the document declares, valid requests not
refused, 405 with Allow for methods a path does not take. A request that does not answer
within its timeout fails (no hang), and the server's log must show no error or traceback
afterwards.

One check is left out: that every request outside the schemas is refused. The document
describes the safe subset of some inputs (ASCII usernames, IPv4 whitelist entries, a small
vCard) while the module accepts more (any name nodeprep accepts, IPv6, any vcard-temp
vCard), so such requests rightly succeed. They are still sent, and must still answer
with a documented status and never a 5xx.

schemathesis is not a dependency of the project; without it this file is skipped
(`.venv/bin/pip install schemathesis`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from admin_rest_support import ADMIN, ADMIN_PASSWORD, HOST, admin_profile, launcher, new_target

from harness.targets.prosody import ProsodyTarget

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402 - after the importorskip
from schemathesis.specs.openapi.checks import negative_data_rejection  # noqa: E402

pytestmark = pytest.mark.prosody

DOCUMENT = Path(__file__).resolve().parents[2] / "lua_modules" / "mod_admin_rest" / "openapi.yaml"
REQUEST_TIMEOUT = 10.0
EXAMPLES_PER_OPERATION = 30

# Basic credentials through schemathesis' own setting, so that it can also leave them out
# (and then expects the documented 401).
schema = schemathesis.openapi.from_path(
    str(DOCUMENT),
    config=schemathesis.Config.from_dict(
        {"auth": {"basic": {"username": ADMIN, "password": ADMIN_PASSWORD}}}
    ),
)


@schemathesis.serializer("application/xml", "text/xml")
def raw_xml(ctx, value) -> bytes:
    """An XML body is the text of the document itself (schemathesis would wrap a string
    schema in an element named after it)."""
    return value.encode() if isinstance(value, str) else str(value).encode()


@pytest.fixture(scope="module", params=["0.12", "13"])
def fuzzed_server(request: pytest.FixtureRequest) -> Iterator[ProsodyTarget]:
    """One server per Prosody version for every generated request; its log is checked
    when the module's tests are done."""
    launcher(request.param)
    profile = admin_profile(
        modules=["offline", "vcard", "groups_internal"],
        components={"rooms.localhost": {"module": "muc"}},
        groups_muc_host="rooms.localhost",
    )
    server = new_target(profile, request.param)
    server.start()
    try:
        server.create_user("admin", HOST, ADMIN_PASSWORD)
        for name in ("john", "marie"):
            server.create_user(name, HOST, "s3cret")
        yield server
        problems = [line.raw for line in server.log() if line.is_error]
        assert not problems, "Prosody logged errors while fuzzed:\n" + "\n".join(problems[:20])
    finally:
        server.stop()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_answers_as_documented(case, fuzzed_server: ProsodyTarget) -> None:
    case.call_and_validate(
        base_url=f"{fuzzed_server.http_url}/admin_rest",
        timeout=REQUEST_TIMEOUT,
        excluded_checks=[negative_data_rejection],
    )
