"""The probe_counts fixture: the probe module run once per target and version."""

from __future__ import annotations

import pytest
from coverage_probe import PROBE_MODULES, need_engine, need_prosody, run_probe

from harness.coverage import CoverageRecorder


@pytest.fixture(scope="session")
def probe_counts():
    """Factory: the recorder after the probe ran on (target, version); each pair runs
    once per session, all into one recorder (so the pairs compare as one run)."""
    recorder = CoverageRecorder(str(PROBE_MODULES))
    done: set[tuple[str, str]] = set()

    def counts(target: str, version: str) -> CoverageRecorder:
        if target != "sandbox" or version != "0.12":
            need_prosody(version)
        if target == "docker":
            need_engine()
        if (target, version) not in done:
            run_probe(recorder, target, version)
            done.add((target, version))
        return recorder

    return counts
