"""Figures the reports share: each file's executable lines and, per target run, the lines
it ran and its percentage; and the fidelity comparison, lines that some targets ran and
others did not (for one Prosody version, in one run of the same scenarios)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from harness.coverage.executable import LuacError, executable_lines
from harness.coverage.model import CoverageData, TargetRun


@dataclass
class FileFigures:
    path: str  # relative to the modules folder
    executable: set[int]
    run: dict[str, set[int]]  # label -> executable lines it ran
    # Lines a target reported that the compiled code calls not executable (a Lua
    # version whose code generator differs); listed, never counted.
    unexpected: dict[str, set[int]] = field(default_factory=dict)
    problem: str = ""  # the file could not be read or compiled

    def percent(self, label: str) -> float:
        return percent(len(self.run.get(label, ())), len(self.executable))

    def run_anywhere(self) -> set[int]:
        return set().union(*self.run.values()) if self.run else set()


@dataclass
class Difference:
    """A line that some targets ran and others did not, on one Prosody version."""

    version: str
    path: str
    line: int
    ran_on: list[str]
    not_on: list[str]


@dataclass
class Summary:
    data: CoverageData
    runs: list[TargetRun]
    files: list[FileFigures]
    differences: list[Difference]
    not_loaded: list[str]  # Lua files of the modules folder no target ran a line of

    def totals(self, label: str) -> tuple[int, int]:
        """(lines run, executable lines) over every file."""
        ran = sum(len(f.run.get(label, ())) for f in self.files)
        return ran, sum(len(f.executable) for f in self.files)


def percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 100.0


def summarise(data: CoverageData) -> Summary:
    runs = data.ordered_runs()
    files = [_figures(data, path, runs) for path in data.files()]
    return Summary(data, runs, files, differences(files, runs), _not_loaded(data))


def _figures(data: CoverageData, path: str, runs: list[TargetRun]) -> FileFigures:
    problem = ""
    try:
        executable = executable_lines(os.path.join(data.modules_dir, path))
    except (OSError, LuacError) as exc:
        problem = str(exc)
        executable = set().union(*(run.run_lines(path) for run in runs))
    figures = FileFigures(path, executable, {}, problem=problem)
    for run in runs:
        ran = run.run_lines(path)
        figures.run[run.label] = ran & executable
        if ran - executable:
            figures.unexpected[run.label] = ran - executable
    return figures


def differences(files: list[FileFigures], runs: list[TargetRun]) -> list[Difference]:
    """Per Prosody version, the lines that not every target of the same run ran."""
    groups: dict[tuple[str, str], list[TargetRun]] = {}
    for run in runs:
        groups.setdefault((run.version, run.run_id), []).append(run)
    found = []
    for (version, _), group in groups.items():
        if len(group) < 2:
            continue
        for figures in files:
            for line in sorted(figures.executable):
                ran_on = [r.label for r in group if line in figures.run.get(r.label, ())]
                if ran_on and len(ran_on) < len(group):
                    found.append(
                        Difference(
                            version,
                            figures.path,
                            line,
                            [r.target for r in group if r.label in ran_on],
                            [r.target for r in group if r.label not in ran_on],
                        )
                    )
    return found


def _not_loaded(data: CoverageData) -> list[str]:
    """Lua files of the modules folder that no target ran a line of (at most two levels
    deep, as Prosody's plugin loader looks)."""
    seen = set(data.files())
    found = []
    root = data.modules_dir
    for entry in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        full = os.path.join(root, entry)
        if entry.endswith(".lua") and os.path.isfile(full):
            candidates = [entry]
        elif os.path.isdir(full) and not entry.startswith("."):
            candidates = [
                f"{entry}/{name}" for name in sorted(os.listdir(full)) if name.endswith(".lua")
            ]
        else:
            continue
        found += [path for path in candidates if path not in seen]
    return found
