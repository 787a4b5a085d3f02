"""The load cache (harness.runner.load_cache): a run takes what a file gave last time only
while nothing it came from changed, and shows errors again as they were; a cache that is
broken, missing or turned off costs time, never a wrong scenario."""

from __future__ import annotations

import os
import pickle

import pytest

from harness.runner import load_all, load_cache, loading

SCENARIO = """\
name: chat {n}
clients:
  john: {{jid: john@localhost, password: s3cret}}
steps:
  - john connects
  - john sends: <message to="john@localhost"><body>{n}</body></message>
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The cache file of this test, and a count of the files actually loaded."""
    monkeypatch.setenv("PROSODY_HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(load_cache.ENV_VAR, raising=False)
    monkeypatch.setattr(load_cache, "CACHE_FROM", 1)  # these suites are small
    loaded: list[str] = []
    real = loading._load

    def counting(file):
        loaded.append(os.path.basename(file))
        return real(file)

    monkeypatch.setattr(loading, "_load", counting)
    return tmp_path / "cache" / load_cache.FILE_NAME, loaded


@pytest.fixture
def suite(tmp_path):
    folder = tmp_path / "suite"
    folder.mkdir()
    for n in range(3):
        (folder / f"s{n}.yaml").write_text(SCENARIO.format(n=n))
    (folder / "broken.yaml").write_text("name: broken\nsteps: [{unknown step: 1}]\n")
    return folder


def summary(loaded):
    return (
        [(s.file, s.name, s.prosody, s.shared_server, len(s.steps)) for s in loaded.scenarios],
        [(e.file, e.line, e.message) for e in loaded.invalid],
    )


def test_a_second_run_loads_nothing_and_gets_the_same(cache, suite):
    cache_file, loaded = cache
    first = summary(load_all([str(suite)]))
    assert sorted(loaded) == ["broken.yaml", "s0.yaml", "s1.yaml", "s2.yaml"]
    assert cache_file.is_file()
    loaded.clear()
    second = summary(load_all([str(suite)]))
    assert loaded == []
    assert second == first
    assert second[1][0][1] == 2  # the error keeps its line


def test_a_file_rewritten_within_the_same_tick_is_loaded_again(cache, suite):
    _, loaded = cache
    path = suite / "s1.yaml"
    load_all([str(suite)])
    stamp = path.stat()
    path.write_text(SCENARIO.format(n=7))  # same size, and the old times put back
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    loaded.clear()
    names = [s.name for s in load_all([str(suite)]).scenarios]
    assert loaded == ["s1.yaml"]
    assert "chat 7" in names and "chat 1" not in names


def test_a_changed_defaults_file_or_a_new_lua_config_reloads_the_folder(cache, suite):
    _, loaded = cache
    load_all([str(suite)])
    (suite / "defaults.yaml").write_text("tags: [shared]\n")
    loaded.clear()
    got = load_all([str(suite)])
    assert len(loaded) == 4
    assert all("shared" in s.tags for s in got.scenarios)
    (suite / "prosody.cfg.lua").write_text('VirtualHost "localhost"\n')
    loaded.clear()
    got = load_all([str(suite)])
    assert len(loaded) == 4
    assert all(s.prosody.get("config_file") for s in got.scenarios)
    assert not any(s.shared_server for s in got.scenarios)


def test_other_code_means_an_empty_cache(cache, suite, monkeypatch):
    _, loaded = cache
    load_all([str(suite)])
    monkeypatch.setattr(load_cache, "code_digest", lambda: b"another version of the harness")
    loaded.clear()
    load_all([str(suite)])
    assert len(loaded) == 4


@pytest.mark.parametrize("damage", [b"", b"not a pickle", pickle.dumps(("x", [1, 2]))])
def test_a_damaged_cache_is_read_as_empty_and_written_again(cache, suite, damage):
    cache_file, loaded = cache
    first = summary(load_all([str(suite)]))
    cache_file.write_bytes(damage)
    loaded.clear()
    assert summary(load_all([str(suite)])) == first
    assert len(loaded) == 4
    loaded.clear()
    load_all([str(suite)])
    assert loaded == []


def test_an_unwritable_cache_folder_only_costs_time(cache, suite, tmp_path, monkeypatch):
    _, loaded = cache
    blocker = tmp_path / "a file, not a folder"
    blocker.write_text("")
    monkeypatch.setenv("PROSODY_HARNESS_CACHE", str(blocker))
    first = summary(load_all([str(suite)]))
    loaded.clear()
    assert summary(load_all([str(suite)])) == first
    assert len(loaded) == 4


def test_turned_off_it_neither_reads_nor_writes(cache, suite, monkeypatch):
    cache_file, loaded = cache
    monkeypatch.setenv(load_cache.ENV_VAR, "0")
    load_all([str(suite)])
    load_all([str(suite)])
    assert len(loaded) == 8
    assert not cache_file.exists()


def test_entries_of_files_gone_are_dropped(cache, suite):
    cache_file, _ = cache
    load_all([str(suite)])
    (suite / "s2.yaml").unlink()
    (suite / "s3.yaml").write_text(SCENARIO.format(n=3))  # something new, so it is written
    load_all([str(suite)])
    with open(cache_file, "rb") as file:
        _code, entries = pickle.load(file)
    files = {os.path.basename(file) for _cwd, file in entries}
    assert files == {"broken.yaml", "s0.yaml", "s1.yaml", "s3.yaml"}


def test_a_run_of_a_few_files_neither_reads_nor_writes_it(cache, suite, monkeypatch):
    cache_file, loaded = cache
    monkeypatch.setattr(load_cache, "CACHE_FROM", 10)
    load_all([str(suite)])
    load_all([str(suite)])
    assert len(loaded) == 8
    assert not cache_file.exists()
