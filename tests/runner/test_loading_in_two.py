"""A suite is loaded in two processes when it is big enough (harness.runner.loading): the
outcome is exactly the one loading alone gives, invalid files and their lines included,
and a child that fails to deliver costs nothing but its time."""

from __future__ import annotations

import os
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


def _summary(loaded):
    return (
        [(s.file, s.name, s.tags, len(s.steps)) for s in loaded.scenarios],
        [(e.file, e.line, e.message) for e in loaded.invalid],
    )


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="forks only with a second CPU")
def test_two_processes_load_what_one_loads(suite, monkeypatch):
    forks = []
    real_fork = os.fork
    monkeypatch.setattr(loading.os, "fork", lambda: forks.append(1) or real_fork())
    alone, in_two = load_all([suite], processes=1), load_all([suite], processes=2)
    assert forks == [1]  # only the second forked
    assert _summary(in_two) == _summary(alone)
    assert len(alone.scenarios) == 43 and len(alone.invalid) == 17
    assert all(e.line and e.message for e in in_two.invalid)  # file:line errors kept


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="forks only with a second CPU")
def test_a_child_that_dies_leaves_its_half_to_the_parent(suite, monkeypatch):
    monkeypatch.setattr(loading, "_send_and_exit", lambda files, write_end: os._exit(3))
    assert _summary(load_all([suite], processes=2)) == _summary(load_all([suite]))


def test_small_suites_and_one_process_load_here(suite, monkeypatch):
    monkeypatch.setattr(loading.os, "fork", lambda: pytest.fail("forked"))
    load_all([suite], processes=1)
    load_all([str(REPO / "scenarios" / "core")], processes=2)  # fewer than FORK_FROM files
