"""mod_admin_rest on real Prosody 0.12 and 13, over the network in ways the harness's
generated config does not listen: IPv6 clients against the whitelist, and HTTPS for
admin_rest_secure. These tests widen the generated config for themselves."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from admin_rest_support import ADMIN, ADMIN_PASSWORD, BASE, HOST, Api, Servers, admin_profile, basic

from harness.ports import free_port
from harness.targets.prosody import ProsodyTarget

pytestmark = pytest.mark.prosody


def widened(edits: dict[str, str], before_start=None) -> type[ProsodyTarget]:
    """A ProsodyTarget whose generated config gets `edits` (whole `name = value` lines of
    options the harness owns), and which can add files to its run directory."""

    class Widened(ProsodyTarget):
        def _prepare_directory(self, plugin_dir: Path) -> None:
            super()._prepare_directory(plugin_dir)
            text = self.config_path.read_text()
            for name, value in edits.items():
                text, count = re.subn(rf"^{name} = .*$", f"{name} = {value}", text, flags=re.M)
                assert count == 1, f"{name} is not in the generated config any more"
            self.config_path.write_text(text)
            if before_start:
                before_start(Path(self.directory))

    return Widened


def ipv6_loopback() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize(
    "whitelist, allowed",
    [
        (["127.0.0.1", "::1"], True),
        (["127.0.0.1", "::/120"], True),
        (["127.0.0.1", "fe80::/10"], False),
        (["127.0.0.1"], False),
    ],
)
def test_whitelist_with_a_real_ipv6_client(
    servers: Servers, whitelist: list[str], allowed: bool
) -> None:
    if not ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    cls = widened({"http_interfaces": '{ "127.0.0.1", "::1" }'})
    server = servers.start(admin_profile(admin_rest_whitelist=whitelist), cls=cls)
    answer = requests.get(
        f"http://[::1]:{server.http_port}{BASE}/ping",
        headers={"Authorization": basic(ADMIN, ADMIN_PASSWORD), "Host": HOST},
        timeout=5,
    )
    assert answer.status_code == (200 if allowed else 403), answer.text
    if not allowed:
        assert answer.json()["error"]["condition"] == "address-not-allowed"
        assert any(
            "from ::1: address not in admin_rest_whitelist" in line.message for line in server.log()
        )
    # Over IPv4 the same server still answers 127.0.0.1.
    assert Api(server)("GET", "/ping").status == 200


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_admin_rest_secure_over_real_https(servers: Servers, tmp_path: Path) -> None:
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed for a self-signed certificate")
    https_port = free_port()

    def certificate(directory: Path) -> None:
        certs = directory / "certs"
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
                f"/CN={HOST}",
                "-keyout",
                str(certs / f"{HOST}.key"),
                "-out",
                str(certs / f"{HOST}.crt"),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

    cls = widened({"https_ports": f"{{ {https_port} }}"}, certificate)
    server = servers.start(admin_profile(admin_rest_secure=True), cls=cls)
    headers = {"Authorization": basic(ADMIN, ADMIN_PASSWORD), "Host": HOST}
    plain = Api(server)("GET", "/ping")
    assert plain.status == 403 and plain.json()["error"]["condition"] == "insecure-connection"
    answer = requests.get(
        f"https://127.0.0.1:{https_port}{BASE}/ping", headers=headers, verify=False, timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"result": "pong"}


# -- reloads -------------------------------------------------------------------------------
