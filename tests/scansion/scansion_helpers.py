"""Runs through the runner, for the scansion tests."""

from __future__ import annotations

from pathlib import Path

from harness.runner import Runner, RunOptions, load_all


def run(paths, targets=("sandbox",), prosody: str | None = None, workers: int = 2):
    """Run scenario files or folders; the RunReport."""
    loaded = load_all([str(p) for p in paths])
    assert not loaded.invalid, [str(e) for e in loaded.invalid]
    return Runner(RunOptions(list(targets), prosody=prosody, workers=workers)).run(loaded)


def verdicts(report) -> dict[tuple[str, str], str]:
    """(file name, target) -> status."""
    return {(Path(r.file).name, r.target): r.status for r in report.results}


def messages(report) -> dict[tuple[str, str], str]:
    """(file name, target) -> failure message (empty when it passed)."""
    return {(Path(r.file).name, r.target): r.message for r in report.results}
