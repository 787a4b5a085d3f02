"""`run --shard K/N` splits a suite into parts that cover it once, keep scenarios that
share a server together, and are the same on every machine; `compare` merges the parts."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.runner import load_all
from harness.runner.shard import ShardError, parse_shard, shard

SCENARIO = """\
name: {name}
prosody: {{options: {{flavour: {profile}}}}}
steps: [wait: 0]
"""


def suite(scenario_file, count=12, profiles=4):
    for i in range(count):
        scenario_file(f"s/{i:02d}.yaml", SCENARIO.format(name=f"n{i}", profile=i % profiles))
    return load_all([str(scenario_file("s/00.yaml", SCENARIO.format(name="n0", profile=0)).parent)])


def test_shards_cover_the_suite_once_and_keep_profiles_together(scenario_file):
    scenarios = suite(scenario_file).scenarios
    parts = [shard(scenarios, k, 3) for k in (1, 2, 3)]
    names = sorted(s.name for part in parts for s in part)
    assert names == sorted(s.name for s in scenarios)
    for part in parts:
        keys = {s.reuse_key() for s in part}
        assert all(
            {s.reuse_key() for s in other} & keys == set() for other in parts if other is not part
        )
    assert [len(part) for part in parts] == [6, 3, 3]  # 4 profiles of 3 each, balanced
    assert shard(list(reversed(scenarios)), 2, 3) == parts[1]  # order of discovery is irrelevant


@pytest.mark.parametrize("text", ["0/2", "3/2", "two/3", "1"])
def test_a_bad_shard_is_a_clear_error(text):
    with pytest.raises(ShardError):
        parse_shard(text)


def report(results):
    return {"tool": "prosody-harness", "ok": True, "results": results, "targets": {}}


def result(name, status):
    return {
        "id": f"f.yaml::{name}",
        "target": "sandbox",
        "status": status,
        "file": "f.yaml",
        "line": 1,
        "name": name,
    }


def test_compare_merges_the_shards_of_a_run(tmp_path, capsys):
    (tmp_path / "old.json").write_text(
        json.dumps(report([result("a", "passed"), result("b", "passed")]))
    )
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "1.json").write_text(json.dumps(report([result("a", "passed")])))
    (parts / "2.json").write_text(json.dumps(report([result("b", "failed")])))
    assert main(["compare", str(tmp_path / "old.json"), str(parts)]) == 1
    assert "REGRESSED (passed, now fails): 1" in capsys.readouterr().out
    both = f"{parts / '1.json'},{parts / '1.json'}"
    assert main(["compare", str(tmp_path / "old.json"), both]) == 2
    assert "is in two of the reports" in capsys.readouterr().err
