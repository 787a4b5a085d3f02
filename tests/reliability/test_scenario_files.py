"""A scenario file that is truncated, binary or enormous gets a clear error (file, line,
what is wrong), never a traceback, a hang or a run of something else than was written."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.scenario import ScenarioError, load_scenarios

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(
    path for path in (REPO / "scenarios").rglob("*.yaml") if path.name != "defaults.yaml"
)


def copy_folder_defaults(source: Path, folder: Path) -> None:
    defaults = source.with_name("defaults.yaml")
    if defaults.exists():
        (folder / "defaults.yaml").write_bytes(defaults.read_bytes())


@pytest.mark.parametrize("index", range(6))
def test_a_file_cut_at_any_byte_is_refused_unless_cut_at_a_line_end(tmp_path, index):
    source = random.Random(index).choice(SHIPPED)
    copy_folder_defaults(source, tmp_path)
    data = source.read_bytes()
    target = tmp_path / source.name
    for cut in range(1, len(data)):
        target.write_bytes(data[:cut])
        try:
            load_scenarios(target)
        except ScenarioError as exc:
            assert str(exc).startswith(str(target))
            continue
        # Only a cut right after a line break can be a valid (shorter) scenario.
        assert data[cut - 1 : cut] == b"\n", f"{source.name} cut at {cut} loaded silently"


def test_a_cut_in_the_middle_of_a_line_says_so(tmp_path):
    (tmp_path / "cut.yaml").write_text("name: half\nsteps:\n  - wait: 0.")
    with pytest.raises(ScenarioError, match=r"cut\.yaml:3: the last line has no line break"):
        load_scenarios(tmp_path / "cut.yaml")


@pytest.mark.parametrize(
    "data, message",
    [
        (bytes(range(256)) * 8, "a binary file, not a scenario"),
        (b"name: x\nsteps: []\n\xff\xfe\x00", "a binary file, not a scenario"),
        (b"name: caf\xe9\nsteps: []\n", r"not UTF-8 text \(a binary file\?\): byte 0xe9"),
        (b"\x89PNG\r\n\x1a\n" + b"\x7f" * 100 + b"\n", "not UTF-8 text"),
    ],
)
def test_binary_files_are_named_as_such(tmp_path, data, message):
    (tmp_path / "b.yaml").write_bytes(data)
    with pytest.raises(ScenarioError, match=message):
        load_scenarios(tmp_path / "b.yaml")


def test_random_bytes_never_crash_the_loader(tmp_path):
    generator = random.Random(17)
    for size in (1, 10, 100, 1000, 10000):
        for _ in range(10):
            (tmp_path / "r.yaml").write_bytes(generator.randbytes(size))
            with pytest.raises(ScenarioError):
                load_scenarios(tmp_path / "r.yaml")


def test_an_enormous_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.yaml"
    with open(path, "w") as out:
        out.write("name: huge\nsteps:\n")
        out.writelines("  - wait: 0\n" for _ in range(500_000))
    started = time.monotonic()
    with pytest.raises(ScenarioError, match=r"the file is 5\.\d MiB; a scenario file is at most"):
        load_scenarios(path)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    "text, message",
    [
        ("name: deep\nsteps: " + "[" * 20000 + "]" * 20000 + "\n", "nested too deeply"),
        (
            "name: bomb\na: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n"
                for i in range(8)
            )
            + "steps: []\n",
            "aliases that expand without end",
        ),
    ],
)
def test_nesting_and_alias_bombs_are_refused_quickly(tmp_path, text, message):
    (tmp_path / "x.yaml").write_text(text)
    started = time.monotonic()
    with pytest.raises(ScenarioError, match=message):
        load_scenarios(tmp_path / "x.yaml")
    assert time.monotonic() - started < 20  # the alias bomb took minutes and 5 GB before


def test_the_runner_reports_them_as_invalid_files_without_a_traceback(tmp_path):
    (tmp_path / "binary.yaml").write_bytes(b"name: x\n\x00\x01")
    (tmp_path / "cut.yaml").write_text("name: cut\nsteps:\n  - wait: 0.")
    with open(tmp_path / "huge.yaml", "w") as out:
        out.write("name: huge\n" + "#" * (5 * 2**20) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(tmp_path), "--target", "prosody"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    for name in ("binary.yaml", "cut.yaml", "huge.yaml"):
        assert f"invalid scenario: {tmp_path / name}" in output
