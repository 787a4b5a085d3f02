"""`prosody-harness compare`: verdict changes between two `run --json` reports, on hand-made
reports and on real runs of the muc scenarios against a deliberately broken module."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.runner.verdict_changes import (
    CHANGED,
    FIXED,
    GONE,
    NEW,
    REGRESSED,
    compare,
)

REPO = Path(__file__).resolve().parents[2]


def report(*results: tuple[str, str, str] | tuple[str, str, str, int]) -> dict:
    """A report from (file, target, status[, failing step line]) tuples."""
    return {
        "tool": "prosody-harness",
        "results": [
            {
                "id": f"{r[0]}::{r[0]} works",
                "file": r[0],
                "line": 1,
                "name": f"{r[0]} works",
                "target": r[1],
                "status": r[2],
                "step": "x receives: <y/>" if len(r) > 3 else "",
                "step_line": r[3] if len(r) > 3 else None,
                "message": "nothing arrived" if len(r) > 3 else "",
            }
            for r in results
        ],
    }


def test_each_kind_of_verdict_change_is_named():
    old = report(
        ("a", "prosody", "passed"),
        ("b", "prosody", "failed", 4),
        ("c", "prosody", "passed"),
        ("d", "prosody", "error", 4),
        ("e", "prosody", "passed"),
        ("f", "prosody", "failed", 4),
        ("g", "prosody", "failed", 4),
        ("a", "sandbox", "passed"),
    )
    new = report(
        ("a", "prosody", "failed", 9),  # regressed
        ("b", "prosody", "passed"),  # fixed
        ("c", "prosody", "skipped"),  # changed
        ("d", "prosody", "failed", 4),  # still failing at the same step: unchanged
        ("f", "prosody", "failed", 7),  # still failing, at another step: changed
        ("g", "prosody", "failed", 4),  # unchanged
        ("h", "prosody", "passed"),  # new
        ("a", "sandbox", "passed"),  # unchanged on this target
    )  # e is gone
    result = compare(old, new)
    kinds = {(c.scenario_id.split("::")[0], c.target): c.kind for c in result.changes}
    assert kinds == {
        ("a", "prosody"): REGRESSED,
        ("b", "prosody"): FIXED,
        ("c", "prosody"): CHANGED,
        ("e", "prosody"): GONE,
        ("f", "prosody"): CHANGED,
        ("h", "prosody"): NEW,
    }
    assert result.unchanged == 3
    assert result.regressed


def write(path: Path, data: dict) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def test_the_command_exits_1_only_on_a_regression(tmp_path, capsys):
    old = write(tmp_path / "old.json", report(("a", "prosody", "passed")))
    fixed = write(tmp_path / "fixed.json", report(("a", "prosody", "failed", 3)))
    assert main(["compare", fixed, old]) == 0
    assert "FIXED (failed, now passes): 1" in capsys.readouterr().out
    assert main(["compare", old, fixed]) == 1
    out = capsys.readouterr().out
    assert "REGRESSED (passed, now fails): 1" in out
    assert "passed -> failed  [prosody] a:1: a works" in out
    assert "at line 3: x receives: <y/>" in out and "nothing arrived" in out


def test_a_file_that_is_not_a_report_is_exit_2_with_the_reason(tmp_path, capsys):
    old = write(tmp_path / "old.json", report(("a", "prosody", "passed")))
    (tmp_path / "broken.json").write_text("{\n  nope")
    other = write(tmp_path / "other.json", {"results": []})
    assert main(["compare", old, str(tmp_path / "missing.json")]) == 2
    assert main(["compare", old, str(tmp_path / "broken.json")]) == 2
    assert main(["compare", other, old]) == 2
    err = capsys.readouterr().err
    assert "missing.json: No such file or directory" in err
    assert "broken.json:2: not JSON" in err
    assert "other.json: not a report written by 'prosody-harness run --json'" in err


@pytest.mark.prosody
def test_a_module_that_admits_any_truthy_allowed_is_caught_by_the_muc_scenarios(tmp_path, capsys):
    # The same scenarios against lua_modules/ and against a copy whose mod_muc_http_auth
    # admits any truthy "allowed" (the string "true", the number 1, JSON null) instead of
    # only true.
    mutated = tmp_path / "modules"
    shutil.copytree(REPO / "lua_modules", mutated)
    module = mutated / "mod_muc_http_auth" / "mod_muc_http_auth.lua"
    source = module.read_text()
    assert "\tif rawequal(value, true) then\n" in source
    module.write_text(source.replace("\tif rawequal(value, true) then\n", "\tif value then\n"))
    scenarios = str(REPO / "scenarios" / "muc_http_auth")
    chosen = ["-k", "refused_when or allowed", "--target", "prosody", "--no-colour"]
    old, new = str(tmp_path / "old.json"), str(tmp_path / "new.json")
    assert main(["run", scenarios, *chosen, "--json", old]) == 0
    assert main(["run", scenarios, *chosen, "--json", new, "--modules", str(mutated)]) == 1
    capsys.readouterr()
    assert main(["compare", old, new]) == 1
    out = capsys.readouterr().out
    regressed = out.split("REGRESSED (passed, now fails): 3\n")[1].split("\n\n")[0]
    cases = f"{scenarios}/refused_when_a_2xx_answer_is_not_allowed_true.yaml:1:"
    for case in ("[allowed null]", "[allowed 1]", '[allowed "true"]'):
        assert f"passed -> failed  [prosody] {cases} " in regressed
        assert case in regressed
    assert "3 regressed;" in out and "FIXED" not in out
    assert f"new: {new} (modules {mutated} [" in out  # then its digest and Prosody version
