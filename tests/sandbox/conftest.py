"""Fixtures for the sandbox's own tests: the plugin's `sandbox` fixture, over the probe
modules with the probe options."""

from __future__ import annotations

import os

import pytest

from harness.profile import DEFAULT_HOST, Profile, VirtualHostProfile

PROBE_MODULES = os.path.join(os.path.dirname(__file__), "modules")


@pytest.fixture
def sandbox_profile():
    return Profile(
        hosts={DEFAULT_HOST: VirtualHostProfile(DEFAULT_HOST, options={"probe_global": "host"})},
        options={"probe_global": "global", "probe_inherited": ["a", "b"]},
    )


@pytest.fixture
def sandbox_modules_dir():
    return PROBE_MODULES


@pytest.fixture
def users(sandbox):
    for name in ("john", "marie"):
        sandbox.create_user(name, DEFAULT_HOST, "s3cret")
    return sandbox


@pytest.fixture
def errors():
    """errors(sandbox): the messages of its error-level log lines."""
    return lambda box: [line.message for line in box.log() if line.level == "error"]
