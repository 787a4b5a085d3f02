"""The pytest plugin's `--lua-coverage[=DIR]`: line coverage of the modules folder for
scenario files and the `prosody_target` fixture, as `prosody-harness run --coverage`
gives it (the `sandbox` fixture, built directly, is not counted). The servers are
stopped at the end of the session, their counts read, the reports written into DIR and
the summary printed with pytest's. Not under pytest-xdist: each worker would count its
share only, so a worker leaves it off and says so."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from harness.coverage.recorder import CoverageRecorder
from harness.coverage.report import DEFAULT_DIRECTORY, Ran, report_run

RECORDER = pytest.StashKey[CoverageRecorder | None]()
SUMMARY = pytest.StashKey[str]()


def add_option(group: Any) -> None:
    group.addoption(
        "--lua-coverage",
        nargs="?",
        const=DEFAULT_DIRECTORY,
        default=None,
        metavar="DIR",
        help="count the lines run of the modules folder's Lua files on every target, and "
        f"write the reports (HTML, Cobertura XML) into DIR (default: {DEFAULT_DIRECTORY}/)",
    )


def configure(config: pytest.Config) -> None:
    wanted = config.getoption("lua_coverage", None)
    if wanted and hasattr(config, "workerinput"):
        config.stash[SUMMARY] = "--lua-coverage is not collected under pytest-xdist (-n)"
        wanted = None
    config.stash[RECORDER] = CoverageRecorder(config.getoption("modules")) if wanted else None


def recorder(config: pytest.Config) -> CoverageRecorder | None:
    return config.stash.get(RECORDER, None)


def finish(config: pytest.Config, close_servers: Callable[[], None], verdicts: Iterable[Any]):
    """At the session's end: stop the servers (their counts are read as they stop), then
    write the reports."""
    chosen = recorder(config)
    if chosen is None:
        return
    close_servers()
    ran = [Ran(v.target, v.prosody, v.status == "skipped", v.file) for v in verdicts]
    try:
        _, text = report_run(chosen, ran, config.getoption("lua_coverage"))
    except OSError as exc:
        text = f"--lua-coverage: the reports could not be written: {exc}"
    config.stash[SUMMARY] = text


def summary(terminalreporter: Any, config: pytest.Config) -> None:
    text = config.stash.get(SUMMARY, "")
    if text:
        terminalreporter.section("line coverage of the modules (--lua-coverage)")
        for line in text.splitlines():
            terminalreporter.line(line)
