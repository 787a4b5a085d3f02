"""The coverage tests' probe module (modules/mod_coverage_probe: every executable line
marked with how often the tests run it) and a way to run it on any target. Imported by
name (not from conftest.py, whose module name other test folders share)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from harness.coverage import CoverageRecorder
from harness.profile import Profile, VirtualHostProfile
from harness.prosody_install import ProsodyInstallError, resolve_prosody
from harness.targets import TargetSpec

HERE = Path(__file__).resolve().parent
PROBE_MODULES = HERE / "modules"
PROBE_FILES = (
    "mod_coverage_probe/mod_coverage_probe.lua",
    "mod_coverage_probe/probe_helper.lib.lua",
)
QUERY_NS = "urn:example:coverage-probe"
MARK = re.compile(r"--@\s*(.*)$")


def expected_counts(relative: str, target: str) -> dict[int, int]:
    """{line: times} from the file's marks, for `target` ("prosody" for both real ones)."""
    kind = "sandbox" if target == "sandbox" else "prosody"
    counts = {}
    for number, text in enumerate((PROBE_MODULES / relative).read_text().splitlines(), 1):
        found = MARK.search(text)
        if not found or text.lstrip().startswith("--"):
            continue
        mark = found.group(1).strip()
        if ":" in mark:
            per_target = dict(part.split(":") for part in mark.split())
            counts[number] = int(per_target[kind])
        else:
            counts[number] = int(mark)
    return counts


def probe_profile() -> Profile:
    return Profile(
        hosts={"localhost": VirtualHostProfile("localhost", modules_enabled=["coverage_probe"])}
    )


def exercise(target) -> None:
    """What the marks count: two probe queries and one HTTP request."""
    target.create_user("probe", "localhost", "s3cret")
    client = target.connect("probe@localhost", "s3cret", "tests")
    try:
        for number in (1, 2):
            query = f'<query xmlns="{QUERY_NS}"/>'
            client.send(f'<iq type="get" id="q{number}" to="localhost">{query}</iq>')
            reply = client.receive(lambda e, n=number: e.get("id") == f"q{n}", timeout=10)
            query = reply.find(f"{{{QUERY_NS}}}query")
            assert query is not None and query.get("answer") == "38", reply
        response = target.http("GET", "/coverage_probe/")
        assert response.status == 200 and response.text() == "probe 1"
    finally:
        client.disconnect()


def run_probe(recorder: CoverageRecorder, target: str, prosody: str | None) -> None:
    """Start `target` with the probe under `recorder`, exercise it, stop it."""
    spec = TargetSpec(target, str(PROBE_MODULES), prosody, coverage=recorder)
    server = spec.create(probe_profile())
    try:
        server.start()
        exercise(server)
        errors = [line.raw for line in server.log() if line.is_error]
        assert not errors, "\n".join(errors)
    finally:
        server.stop()


def need_prosody(version: str) -> None:
    if version == "0.12" and shutil.which("prosody") is None:
        pytest.skip("prosody is not installed")
    try:
        resolve_prosody(version)
    except ProsodyInstallError as exc:
        pytest.skip(f"Prosody {version} is not available here: {exc}")


def need_engine() -> None:
    from harness.containers.engine import EngineUnavailable, engine

    try:
        engine()
    except EngineUnavailable as exc:
        pytest.skip(f"no container engine here: {exc}")
