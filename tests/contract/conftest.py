"""`prosody-harness check` run in process against the mock backends (started by the
fixtures of mock_backends/pytest_fixtures.py), its JSON report read back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from harness.cli import main


@dataclass
class CheckRun:
    status: int
    out: str
    err: str

    @property
    def report(self) -> dict[str, Any]:
        return json.loads(self.out)

    def codes(self, severity: str | None = None) -> list[str]:
        return [
            f["code"]
            for f in self.report["findings"]
            if severity is None or f["severity"] == severity
        ]

    def finding(self, code: str, probe: str | None = None) -> dict[str, Any]:
        for found in self.report["findings"]:
            if found["code"] == code and (probe is None or probe in (found["probe"] or "")):
                return found
        raise AssertionError(
            f"no finding {code} (probe {probe}) in {json.dumps(self.report['findings'], indent=1)}"
        )

    def probes(self) -> list[dict[str, Any]]:
        return self.report["probes"]


@pytest.fixture
def check(capsys):
    """Run `prosody-harness check ARGS... --json`; returns the exit status and the report."""

    def run(*args: str, json_output: bool = True) -> CheckRun:
        argv = ["check", *args] + (["--json"] if json_output else [])
        status = main(argv)
        captured = capsys.readouterr()
        return CheckRun(status, captured.out, captured.err)

    return run
