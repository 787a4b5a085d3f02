"""The JSON report: every result with its failure details, for scripts and dashboards."""

from __future__ import annotations

import json
from typing import Any

from harness import __version__
from harness.runner.results import RunReport


def report_dict(report: RunReport) -> dict[str, Any]:
    return {
        "tool": "prosody-harness",
        "version": __version__,
        "ok": report.ok,
        "seconds": round(report.seconds, 3),
        "modules_dir": report.modules_dir,
        "modules_digest": report.modules_digest,
        "targets": report.targets,
        "summary": {
            status: report.count(status) for status in ("passed", "failed", "error", "skipped")
        }
        | {"not_run": report.not_run},
        "servers_started": report.servers_started,
        "unavailable_targets": report.unavailable,
        "disagreements": [
            {"scenario": d.scenario_id, "verdicts": d.verdicts} for d in report.disagreements
        ],
        "results": [result.to_dict() for result in report.results],
    }


def write_json(report: RunReport, path: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        json.dump(report_dict(report), out, indent=2)
        out.write("\n")
