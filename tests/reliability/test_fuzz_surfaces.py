"""Every HTTP surface our modules serve (the roster refresh API, mod_rest, mod_admin_rest)
on real Prosody 0.12 and 13, and every mock backend, fuzzed from its OpenAPI document:
schemathesis cases (valid and invalid data for every operation) and hostile raw requests
(malformed JSON and XML, wrong types, huge and empty bodies, odd encodings, broken and
duplicated headers, unusual methods, path tricks, broken request lines).

Each request is judged on its own: no 5xx, an answer (or for broken HTTP a close) within
its bound, an answer the document describes, nothing at error level and no traceback in
the server's log. A finding that is a known defect (harness.reliability.known_defects,
each reproduced by an xfail test) is counted, anything else fails. The budget and seed
come from conftest.py; with PROSODY_HARNESS_FIGURES set the counts are recorded for the
README's table."""

from __future__ import annotations

import pytest
from reliability_settings import SEED, budget, require_prosody

from harness.reliability import figures
from harness.reliability.fuzz_run import fuzz_surface
from harness.reliability.surfaces import SURFACES

pytestmark = [pytest.mark.fuzz, pytest.mark.prosody, pytest.mark.timeout(3600)]

CASES = [(surface, version) for surface in SURFACES.values() for version in surface.versions]


@pytest.mark.parametrize("surface, version", CASES, ids=[f"{s.name}@{v}" for s, v in CASES])
def test_the_surface_survives_fuzzing(surface, version):
    require_prosody(version)
    cases_per_operation, hostile = budget()
    stats = fuzz_surface(surface, version, cases_per_operation, hostile, SEED)
    figures.record("fuzz", f"{surface.name}@{version}", stats.to_json())
    figures.record("fuzz_settings", "schemathesis", cases_per_operation)
    figures.record("fuzz_settings", "hostile", hostile)
    figures.record("fuzz_settings", "seed", SEED)
    assert stats.requests > 0
    report = "\n".join(
        f"- {f.kind}: {f.detail}\n  request: {f.request}\n  log: {f.log[:1]}"
        for f in stats.unknown[:15]
    )
    assert not stats.unknown, (
        f"{len(stats.unknown)} finding(s) in {stats.requests} "
        f"requests to {surface.name} on {version}:\n{report}"
    )
