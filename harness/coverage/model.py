"""Line counts as the reports use them: per target and Prosody version, per file (its
path relative to the modules folder), per line. Saved as counts.json beside the reports,
so a later run on another version adds to them (see `CoverageData.merge_earlier`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

Counts = dict[str, dict[int, int]]  # relative path -> line -> times run
FORMAT = "prosody-harness coverage 1"


@dataclass
class TargetRun:
    """What one target, on one Prosody version, ran in one `prosody-harness run`."""

    target: str
    version: str
    files: Counts = field(default_factory=dict)
    servers: int = 0  # servers whose counts were read
    scenarios: int = 0  # scenarios that ran (not skipped) on it
    run_id: str = ""  # which run: only counts of one run are compared line by line
    date: str = ""  # when that run ended (UTC, ISO 8601)

    @property
    def label(self) -> str:
        return f"{self.target} {self.version}".strip()

    def add(self, counts: Counts) -> None:
        for path, lines in counts.items():
            into = self.files.setdefault(path, {})
            for line, times in lines.items():
                into[line] = into.get(line, 0) + times

    def run_lines(self, path: str) -> set[int]:
        return {line for line, times in self.files.get(path, {}).items() if times > 0}

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "version": self.version,
            "servers": self.servers,
            "scenarios": self.scenarios,
            "run_id": self.run_id,
            "date": self.date,
            "files": {
                path: {str(line): times for line, times in sorted(lines.items())}
                for path, lines in sorted(self.files.items())
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TargetRun:
        files = {
            path: {int(line): int(times) for line, times in lines.items()}
            for path, lines in data.get("files", {}).items()
        }
        return cls(
            data["target"],
            data.get("version", ""),
            files,
            int(data.get("servers", 0)),
            int(data.get("scenarios", 0)),
            data.get("run_id", ""),
            data.get("date", ""),
        )


@dataclass
class CoverageData:
    """Every target run's counts for one modules folder."""

    modules_dir: str
    runs: dict[str, TargetRun] = field(default_factory=dict)  # label -> its counts
    kept: list[str] = field(default_factory=list)  # labels taken from an earlier run
    # Scenarios of this run skipped on some targets and run on others (`targets:`): they
    # explain some of the lines only some targets ran. Not saved.
    limited: list[str] = field(default_factory=list)

    def files(self) -> list[str]:
        """Every file some target ran a line of, sorted."""
        return sorted({path for run in self.runs.values() for path in run.files})

    def ordered_runs(self) -> list[TargetRun]:
        """By Prosody version, then sandbox, prosody, docker (then any other)."""
        order = {"sandbox": 0, "prosody": 1, "docker": 2}
        return sorted(
            self.runs.values(),
            key=lambda r: (_version_key(r.version), order.get(r.target, 9), r.target),
        )

    def merge_earlier(self, path: str) -> None:
        """Keep the runs of an earlier counts.json (same modules folder) for the target
        and version pairs this run did not run: so one report can show both versions."""
        try:
            with open(path, encoding="utf-8") as handle:
                earlier = json.load(handle)
        except (OSError, ValueError):
            return
        if earlier.get("format") != FORMAT or earlier.get("modules_dir") != self.modules_dir:
            return
        for label, data in earlier.get("runs", {}).items():
            if label not in self.runs:
                self.runs[label] = TargetRun.from_json(data)
                self.kept.append(label)

    def save(self, path: str) -> None:
        data = {
            "format": FORMAT,
            "modules_dir": self.modules_dir,
            "runs": {run.label: run.to_json() for run in self.ordered_runs()},
        }
        partial = path + ".partial"
        with open(partial, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=False)
            handle.write("\n")
        os.replace(partial, path)

    @classmethod
    def load(cls, path: str) -> CoverageData:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: not a prosody-harness counts.json")
        runs = {label: TargetRun.from_json(run) for label, run in data["runs"].items()}
        return cls(data["modules_dir"], runs)


def _version_key(version: str) -> tuple:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))
