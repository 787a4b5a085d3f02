"""Markers of the reliability tests (settings: reliability_settings.py)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fuzz: fuzzing an HTTP surface (make fuzz runs it long)")
    config.addinivalue_line("markers", "fault_matrix: the fault matrix on real Prosody")
    config.addinivalue_line("markers", "interrupts: killing the runner at random moments")
