"""The sandbox checks a module's https requests as the real Prosody of the same version
does: same success or failure, and an error in the log where Prosody logs one. Each
case runs on both, side by side, for 0.12 and 13."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from harness.profile import Profile, VirtualHostProfile
from harness.targets import TargetSpec
from mock_backends import start_backend
from mock_backends.tls import ca_file

MODULES = str(Path(__file__).parent / "modules")
CASES = ("default", "insecure", "table", "context_none")


def outcomes(target_name: str, version: str, trust_ca: bool, urls: dict[str, str]):
    options = {"ssl": {"cafile": ca_file()}} if trust_ca else {}
    host = VirtualHostProfile("localhost", ["probe_https"])
    spec = TargetSpec(target_name, MODULES, version)
    found = {}
    with spec.create(Profile(hosts={"localhost": host}, options=options)) as target:
        for server, url in urls.items():
            for case in CASES:
                before = len(target.error_lines())
                try:
                    path = f"/probe_https/{case}?url={quote(url)}"
                    answer = target.http("GET", path, timeout=2)
                    # The probe answered, and an HTTP answer came back to it over TLS.
                    ok = answer.status == 200 and not answer.text().startswith("0 ")
                except Exception:  # noqa: BLE001 - no answer (the request hung) is a failure
                    ok = False
                errors = len(target.error_lines()) > before
                found[(server, case)] = (ok, errors)
    return found


@pytest.mark.prosody
@pytest.mark.parametrize("version", ["0.12", "13"])
@pytest.mark.parametrize("trust_ca", [True, False], ids=["ca-trusted", "ca-unknown"])
def test_https_outcomes_agree_between_sandbox_and_prosody(version, trust_ca):
    with (
        start_backend("muc_auth", {"tls": "trusted"}) as trusted,
        start_backend("muc_auth", {"tls": "self-signed"}) as self_signed,
    ):
        urls = {"trusted": trusted.url + "/", "self-signed": self_signed.url + "/"}
        real = outcomes("prosody", version, trust_ca, urls)
        emulated = outcomes("sandbox", version, trust_ca, urls)
    assert emulated == real
    # And what that means, so a change in both at once is seen too:
    if trust_ca:
        assert real[("trusted", "default")] == (True, False)
    assert real[("self-signed", "default")][0] is False
    assert real[("self-signed", "context_none")] == (True, False)
    assert real[("self-signed", "insecure")][0] is (version == "0.12")
    assert real[("self-signed", "table")][0] is (version == "0.12")
