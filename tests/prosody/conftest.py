"""Fixtures for end-to-end tests against Debian's real prosody binary."""

from __future__ import annotations

import pytest

from harness.profile import Profile
from harness.target import LogLine
from harness.targets.prosody import ProsodyTarget


def unexpected(lines: list[LogLine]) -> list[LogLine]:
    """Warnings, errors and tracebacks; a clean run has none before shutdown."""
    return [line for line in lines if line.level in ("warn", "error") or line.is_error]


class Servers:
    """Starts targets for one test, checks their logs stayed clean, and stops them."""

    def __init__(self) -> None:
        self.started: list[ProsodyTarget] = []
        self.noisy: set[int] = set()

    def start(self, profile: Profile | None = None, **options) -> ProsodyTarget:
        target = ProsodyTarget(profile or Profile(), **options)
        self.started.append(target)
        target.start()
        return target

    def expect_log_noise(self, target: ProsodyTarget) -> None:
        self.noisy.add(id(target))

    def finish(self) -> None:
        problems = []
        for target in self.started:
            if target.pid is not None and id(target) not in self.noisy:
                problems += unexpected(target.log())
            target.stop()
        assert not problems, "Prosody logged:\n" + "\n".join(line.raw for line in problems)


@pytest.fixture
def servers():
    started = Servers()
    yield started
    started.finish()


@pytest.fixture
def server(servers) -> ProsodyTarget:
    return servers.start()
