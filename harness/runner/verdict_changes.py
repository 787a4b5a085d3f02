"""What changed between two runs of the same scenarios (two `run --json` reports).

The module maintainer's question after an upgrade: which scenarios pass now that failed
before, and which fail now that passed? Results are matched by scenario id (file::name)
and target, so one report may hold several targets.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.runner.results import ERROR, FAILED, PASSED

REGRESSED, FIXED, CHANGED, NEW, GONE = "regressed", "fixed", "changed", "new", "gone"
_BAD = (FAILED, ERROR)


class ReportError(ValueError):
    """A file that is not a readable `run --json` report."""


@dataclass
class VerdictChange:
    kind: str  # regressed | fixed | changed (to or from skipped, another failing step) | new | gone
    scenario_id: str
    target: str
    old: dict[str, Any] | None  # the result in the old report (None: not in it)
    new: dict[str, Any] | None

    @property
    def before(self) -> str:
        return self.old["status"] if self.old else "-"

    @property
    def after(self) -> str:
        return self.new["status"] if self.new else "-"


@dataclass
class Comparison:
    changes: list[VerdictChange] = field(default_factory=list)
    unchanged: int = 0

    def of_kind(self, kind: str) -> list[VerdictChange]:
        return [c for c in self.changes if c.kind == kind]

    @property
    def regressed(self) -> bool:
        return bool(self.of_kind(REGRESSED))


def read_reports(spec: str) -> dict[str, Any]:
    """One report, or the merge of several (the shards of one run): `spec` is a file, a
    comma-separated list of files, or a folder of *.json reports."""
    if os.path.isdir(spec):
        paths = sorted(str(p) for p in Path(spec).glob("*.json"))
        if not paths:
            raise ReportError(f"{spec}: a folder without any *.json report")
    else:
        paths = [part for part in spec.split(",") if part]
    reports = [read_report(path) for path in paths]
    return reports[0] if len(reports) == 1 else merge_reports(reports)


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Shards of one run as one report: results joined; a scenario in two shards is an
    error, since the shards of one run never overlap."""
    merged = dict(reports[0])
    merged["results"], merged["targets"] = [], {}
    seen: set[tuple[str, str]] = set()
    for report in reports:
        for result in report["results"]:
            key = (result["id"], result["target"])
            if key in seen:
                raise ReportError(f"{result['id']} [{result['target']}] is in two of the reports")
            seen.add(key)
            merged["results"].append(result)
        merged["targets"].update(report.get("targets") or {})
    merged["ok"] = all(report.get("ok") for report in reports)
    return merged


def read_report(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as source:
            data = json.load(source)
    except OSError as exc:
        raise ReportError(f"{path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from None
    if not isinstance(data, dict) or data.get("tool") != "prosody-harness":
        raise ReportError(f"{path}: not a report written by 'prosody-harness run --json'")
    results = data.get("results")
    if not isinstance(results, list):
        raise ReportError(f"{path}: not a report written by 'prosody-harness run --json'")
    for index, result in enumerate(results):
        if not isinstance(result, dict) or not {"id", "target", "status"} <= result.keys():
            raise ReportError(f"{path}: results[{index}] lacks id, target or status")
    return data


def compare(old: dict[str, Any], new: dict[str, Any]) -> Comparison:
    before = _by_key(old["results"])
    after = _by_key(new["results"])
    comparison = Comparison()
    for key in sorted(before.keys() | after.keys()):
        kind = _kind(before.get(key), after.get(key))
        if kind is None:
            comparison.unchanged += 1
        else:
            comparison.changes.append(VerdictChange(kind, *key, before.get(key), after.get(key)))
    return comparison


def _by_key(results: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["id"], r["target"]): r for r in results}


def _kind(old: dict[str, Any] | None, new: dict[str, Any] | None) -> str | None:
    if old is None:
        return NEW
    if new is None:
        return GONE
    was, now = old["status"], new["status"]
    if was in _BAD and now in _BAD:
        # Still failing: a change only when it now fails at another step.
        return None if old.get("step_line") == new.get("step_line") else CHANGED
    if was == now:
        return None
    if was == PASSED and now in _BAD:
        return REGRESSED
    if was in _BAD and now == PASSED:
        return FIXED
    return CHANGED  # to or from skipped
