"""The probe module's lines counted exactly, on the sandbox and on real Prosody, on
Prosody 0.12 and 13: its loading, its handlers (in util.async's coroutines), coroutines
of every kind it makes, and its library file."""

from __future__ import annotations

import pytest
from coverage_probe import PROBE_FILES, expected_counts

from harness.coverage.executable import executable_lines
from harness.coverage.recorder import CoverageRecorder

VERSIONS = {"0.12": "0.12.", "13": "13."}


def _run_of(recorder: CoverageRecorder, target: str, version: str):
    runs = [
        run
        for run in recorder.runs.values()
        if run.target == target and run.version.startswith(VERSIONS[version])
    ]
    assert len(runs) == 1, f"counts of {target} {version}: {list(recorder.runs)}"
    return runs[0]


@pytest.mark.parametrize("version", ["0.12", "13"])
@pytest.mark.parametrize("target", ["sandbox", "prosody", "docker"])
def test_every_line_of_the_probe_is_counted_exactly(probe_counts, target, version):
    run = _run_of(probe_counts(target, version), target, version)
    assert run.servers == 1
    for relative in PROBE_FILES:
        expected = {line: n for line, n in expected_counts(relative, target).items() if n}
        assert run.files.get(relative, {}) == expected, relative


def test_the_marks_are_the_executable_lines():
    from coverage_probe import PROBE_MODULES

    for relative in PROBE_FILES:
        assert set(expected_counts(relative, "sandbox")) == executable_lines(
            str(PROBE_MODULES / relative)
        ), relative


def test_lines_in_coroutines_are_counted(probe_counts):
    """The query handler runs in the session's runner; it makes a coroutine with wrap,
    one with create/resume and a util.async runner: all their lines are counted."""
    from coverage_probe import PROBE_MODULES

    source = (PROBE_MODULES / PROBE_FILES[0]).read_text().splitlines()
    run = _run_of(probe_counts("sandbox", "0.12"), "sandbox", "0.12")
    counts = run.files[PROBE_FILES[0]]
    inside = {
        "coroutine.yield(helper.double(y))": 2,
        "local got = coroutine.yield(y + 1)": 2,
        "return got * 10": 2,
        "result = sum_to(y)": 2,
    }
    for text, times in inside.items():
        number = next(i for i, line in enumerate(source, 1) if text in line)
        assert counts.get(number) == times, text
    helper = run.files[PROBE_FILES[1]]
    assert helper.get(5) == 2  # helper.double's body, called inside the wrap


def test_only_files_under_the_modules_folder_are_counted(probe_counts):
    recorder = probe_counts("sandbox", "0.12")
    for run in recorder.runs.values():
        assert set(run.files) <= set(PROBE_FILES)
