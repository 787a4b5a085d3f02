"""HTTPS mocks whose authority and certificates are kept in a folder (tls.keep_in): a later
process serves the same, verified, without making keys or importing cryptography; kept
items that are near their end, damaged or unwritable are made anew. Each case runs in
fresh processes, as runs do (the module keeps its authority per process)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

# One process: keep in FOLDER, serve trusted and self-signed HTTPS, fetch each over TLS
# (trusted: verified against the authority), and say what it used.
PROCESS = """
import hashlib, http.client, json, ssl, sys
from mock_backends import start_backend, tls
tls.keep_in(sys.argv[1])
answers = {}
with start_backend("muc_auth", {"tls": "trusted"}) as trusted, \\
        start_backend("muc_auth", {"tls": "self-signed"}) as self_signed:
    for name, backend, context in (
        ("trusted", trusted, ssl.create_default_context(cafile=tls.ca_file())),
        ("self-signed", self_signed, ssl._create_unverified_context()),
    ):
        conn = http.client.HTTPSConnection("127.0.0.1", backend.port, context=context, timeout=5)
        conn.request("GET", "/")
        answers[name] = conn.getresponse().status
        conn.close()
print(json.dumps({
    "answers": answers,
    "ca": hashlib.sha256(open(tls.ca_file(), "rb").read()).hexdigest(),
    "cryptography": "cryptography" in sys.modules,
}))
"""


def run_process(folder: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROCESS, str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def served(result: dict) -> bool:
    """Both backends answered over TLS (the trusted one verified)."""
    return set(result["answers"]) == {"trusted", "self-signed"}


def test_a_later_process_serves_the_kept_certificates_without_making_any(tmp_path):
    first = run_process(tmp_path)
    second = run_process(tmp_path)
    assert served(first) and served(second)
    assert first["cryptography"] is True  # it made them
    assert second["cryptography"] is False  # it only read them
    assert second["ca"] == first["ca"]
    assert (tmp_path / "ca.key").stat().st_mode & 0o077 == 0  # the keys are the user's alone


def test_processes_starting_together_share_one_authority(tmp_path):
    command = [sys.executable, "-c", PROCESS, str(tmp_path)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    results = [json.loads(p.communicate(timeout=60)[0]) for p in processes]
    assert all(served(result) for result in results)
    assert len({result["ca"] for result in results}) == 1


def test_an_authority_near_its_end_is_made_anew_with_its_certificates(tmp_path):
    first = run_process(tmp_path)
    (tmp_path / "ca.until").write_text(repr(time.time() + 3600))  # within a day of its end
    second = run_process(tmp_path)
    assert served(second) and second["cryptography"] is True
    assert second["ca"] != first["ca"]
    # The trusted certificate follows its new authority (it verified, above), and is kept.
    assert len(list(tmp_path.glob("trusted-127.0.0.1-*.pem"))) == 2
    assert run_process(tmp_path)["cryptography"] is False


@pytest.mark.parametrize(
    "damage",
    [
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
        "",
        "garbage",
    ],
    ids=["unparsable-pem", "empty", "garbage"],
)
def test_a_damaged_kept_certificate_is_made_anew(tmp_path, damage):
    run_process(tmp_path)
    (tmp_path / "self-signed-127.0.0.1.pem").write_text(damage)
    assert served(run_process(tmp_path))
    assert run_process(tmp_path)["cryptography"] is False  # repaired for the next one


def test_a_folder_that_cannot_be_made_keeps_nothing_and_loses_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder would go")
    for _ in range(2):
        result = run_process(blocker / "tls")
        assert served(result) and result["cryptography"] is True
