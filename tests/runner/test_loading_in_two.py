"""A suite is loaded in two processes when it is big enough (harness.runner.loading): the
outcome is exactly the one loading alone gives, invalid files and their lines included,
and a child that fails to deliver costs nothing but its time.

The loads run in a fresh interpreter, as in `prosody-harness run`: the loader forks only
a process with one thread, and pytest's own may have more by now."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.runner import load_all, loading

REPO = Path(__file__).resolve().parents[2]
VALID = """\
name: chat {n}
tags: [t{n}]
clients:
  john: {{jid: john@localhost, password: s3cret}}
steps:
  - john connects
  - john sends: <message to="john@localhost"><body>{n}</body></message>
"""
COMPARE = """
import json, os, sys
from harness.runner import load_all, loading

def summary(loaded):
    return [[[s.file, s.name, s.tags, len(s.steps)] for s in loaded.scenarios],
            [[e.file, e.line, e.message] for e in loaded.invalid]]

forks = []
real_fork = os.fork
loading.os.fork = lambda: forks.append(1) or real_fork()
if sys.argv[2] == "child dies":
    loading._send_and_exit = lambda files, write_end: os._exit(3)
alone = summary(load_all([sys.argv[1]], processes=1))
in_two = summary(load_all([sys.argv[1]], processes=2))
print(json.dumps({"forks": len(forks), "alone": alone, "in_two": in_two}))
"""
TWO_CPUS = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="forks only with a second CPU")


@pytest.fixture
def suite(tmp_path):
    """60 files: valid ones, and every seventh broken on its line 2 or not YAML at all."""
    for n in range(60):
        if n % 7 == 3:
            text = "name: broken\nsteps: [{unknown step: 1}]\n"
        elif n % 7 == 5:
            text = "name: [unclosed\n"
        else:
            text = VALID.format(n=n)
        (tmp_path / f"s{n:02d}.yaml").write_text(text)
    return str(tmp_path)


def _compare(suite: str, case: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", COMPARE, suite, case],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PROSODY_HARNESS_LOAD_CACHE": "0"},  # both loads really load
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@TWO_CPUS
def test_two_processes_load_what_one_loads(suite):
    got = _compare(suite, "normal")
    assert got["forks"] == 1  # only the second load forked
    assert got["in_two"] == got["alone"]
    scenarios, invalid = got["alone"]
    assert len(scenarios) == 43 and len(invalid) == 17
    assert all(line and message for _file, line, message in invalid)  # file:line kept


@TWO_CPUS
def test_a_child_that_dies_leaves_its_half_to_the_parent(suite):
    got = _compare(suite, "child dies")
    assert got["forks"] == 1 and got["in_two"] == got["alone"]


def test_small_suites_one_process_and_threads_load_here(suite, monkeypatch):
    monkeypatch.setenv("PROSODY_HARNESS_LOAD_CACHE", "0")  # each load really loads
    monkeypatch.setattr(loading.os, "fork", lambda: pytest.fail("forked"))
    load_all([suite], processes=1)
    load_all([str(REPO / "scenarios" / "core")], processes=2)  # fewer than FORK_FROM files
    monkeypatch.setattr(loading.threading, "active_count", lambda: 2)
    load_all([suite], processes=2)  # a fork would copy one thread of two
