"""lua_modules/mod_rest/openapi.yaml against the real module, on Prosody 0.12 and 13.

schemathesis generates requests from the document (valid and invalid bodies, headers and
path parameters, authenticated as a user) and checks each answer: never a 5xx, a status
and content type the document lists, JSON bodies matching their schemas, an answer within
the time bound. After each version's run the Prosody log must hold no error and no
traceback.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from rest_helpers import HOST, MODULES, PASSWORD, basic, log_problems

from harness.profile import Profile, VirtualHostProfile
from harness.prosody_install import ProsodyInstallError, resolve_prosody
from harness.targets.prosody import ProsodyTarget

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import checks  # noqa: E402  (after the skip when it is missing)

pytestmark = pytest.mark.prosody

DOCUMENT = MODULES["mod_rest"] / "openapi.yaml"
schema = schemathesis.openapi.from_path(str(DOCUMENT))
# An iq to nowhere waits at most this long; every request gets an answer within the bound.
IQ_TIMEOUT = 2
REQUEST_BOUND = IQ_TIMEOUT + 8


@pytest.fixture(scope="module", params=["0.12", "13"], ids=lambda v: f"prosody-{v}")
def server(request, tmp_path_factory) -> Iterator[ProsodyTarget]:
    try:
        resolve_prosody(request.param)
    except ProsodyInstallError as exc:
        pytest.skip(f"Prosody {request.param} is not available here: {exc}")
    folder = tmp_path_factory.mktemp("fuzz-modules")
    for name in ("mod_rest", "mod_http_auth_cache"):
        (folder / name).symlink_to(MODULES[name], target_is_directory=True)
    # No s2s: stanzas to other domains bounce at once instead of looking the domain up.
    profile = Profile(
        hosts={
            HOST: VirtualHostProfile(
                HOST,
                modules_enabled=["rest", "version"],
                modules_disabled=["s2s"],
                options={"rest_iq_timeout": IQ_TIMEOUT, "rest_iq_max_timeout": IQ_TIMEOUT},
            )
        }
    )
    target = ProsodyTarget(profile, modules_dir=str(folder), prosody=request.param)
    target.start()
    target.create_user("john", HOST, PASSWORD)
    yield target
    problems = log_problems(target)
    target.stop()
    assert problems == [], problems


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_the_module_keeps_to_its_openapi_document(case, server: ProsodyTarget) -> None:
    response = case.call(
        base_url=server.http_url, headers={"Authorization": basic("john")}, timeout=REQUEST_BOUND
    )
    case.validate_response(
        response,
        checks=[
            checks.not_a_server_error,
            checks.status_code_conformance,
            checks.content_type_conformance,
            checks.response_schema_conformance,
        ],
    )


def test_prosodys_own_404_for_a_lone_star_is_documented(server: ProsodyTarget) -> None:
    # Found by the fuzzing above: Prosody's router answers a path ending in "/*" itself.
    case = schema["/rest/{query}/{to}"]["GET"].Case(path_parameters={"query": "ping", "to": "*"})
    response = case.call(
        base_url=server.http_url, headers={"Authorization": basic("john")}, timeout=REQUEST_BOUND
    )
    assert response.status_code == 404
    assert "text/html" in str(response.headers.get("content-type"))
    case.validate_response(response, checks=[checks.content_type_conformance])
