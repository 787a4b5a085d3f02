"""Settings shared by the reliability tests: the fuzzing budget and seed, and a skip for a
Prosody version that is not installed here.

    PROSODY_HARNESS_FUZZ_BUDGET=short|full|N   (short: inside `make test`; full: `make fuzz`)
    PROSODY_HARNESS_FUZZ_SEED=17               (the same requests on every run)
"""

from __future__ import annotations

import os

import pytest

from harness.prosody_install import ProsodyInstallError, resolve_prosody

BUDGETS = {"short": (1, 20), "full": (30, 500)}  # schemathesis per operation, hostile
SEED = int(os.environ.get("PROSODY_HARNESS_FUZZ_SEED", "17"))


def budget() -> tuple[int, int]:
    """(schemathesis cases per operation, hostile requests) per surface and version."""
    value = os.environ.get("PROSODY_HARNESS_FUZZ_BUDGET", "short")
    if value in BUDGETS:
        return BUDGETS[value]
    hostile = int(value)
    return max(1, hostile // 20), hostile


def require_prosody(version: str) -> None:
    """Skip unless this Prosody version is installed ("mock": no Prosody needed)."""
    if version == "mock":
        return
    try:
        resolve_prosody(version)
    except ProsodyInstallError as exc:
        pytest.skip(f"Prosody {version} is not available here: {exc}")
