"""Shared helpers for the runner's tests: the fake target and scenario files on disk."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness import targets


@pytest.fixture
def fake_target(monkeypatch):
    """Registers the in-memory FakeTarget as target "fake"; yields its class."""
    from runner_fake_target import FakeTarget

    monkeypatch.setitem(targets.TARGETS, "fake", "runner_fake_target:FakeTarget")
    FakeTarget.instances.clear()
    yield FakeTarget
    FakeTarget.instances.clear()


@pytest.fixture
def scenario_file(tmp_path):
    """Factory: write a scenario file (text is dedented) and return its path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return write
