"""bench/bench_sandbox.py measured against a baseline checkout: both arms' figures and
their ratio from one run, and a clear refusal of a folder that is no checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "bench_sandbox.py"


def bench(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_each_scenario_gets_both_rates_and_their_ratio():
    result = bench("--against", str(ROOT), "--seconds", "0.1", "--no-suite", "--prosody", "0.12")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"baseline: {ROOT}" in lines
    rows = [line for line in lines if line.startswith(("message", "roster", "HTTP"))]
    assert len(rows) == 4, result.stdout
    for row in rows:
        ours, baseline, ratio = (float(cell) for cell in row.split()[-3:])
        assert ours > 0 and baseline > 0
        assert abs(ratio - ours / baseline) <= 0.02 * ours / baseline + 0.005


def test_a_folder_that_is_no_checkout_is_refused(tmp_path):
    result = bench("--against", str(tmp_path), "--no-suite")
    assert result.returncode != 0
    assert f"--against {tmp_path}: no checkout of the project there" in result.stderr


def test_a_commit_that_does_not_exist_is_refused():
    result = bench("--against-commit", "no-such-revision", "--no-suite")
    assert result.returncode != 0
    assert "no-such-revision" in result.stderr
    assert "Traceback" not in result.stderr  # where git itself is missing, too
    if not (ROOT / ".git").exists():
        return  # a copy without git's history (git archive): git's refusal is the check
    worktrees = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "list"], capture_output=True, text=True, check=True
    )
    assert "bench-reference-" not in worktrees.stdout


def test_without_git_the_refusal_says_so(tmp_path):
    result = bench(
        "--against-commit", "HEAD", "--no-suite", env=dict(os.environ, PATH=str(tmp_path))
    )
    assert result.returncode != 0
    assert "git is not installed" in result.stderr
    assert "Traceback" not in result.stderr
