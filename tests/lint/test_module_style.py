"""The Lua modules share one house style: one licence header (LICENCE_HEADER below), one
section-marker style (`-- Title ---...`, 100 columns wide) with the hooks last, as the table of
contents of what a module does, and libraries that two modules carry are the same file in both."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULES = REPO / "lua_modules"

# The modules written in the house style. A module joins this list once it follows it.
STYLED = ("mod_http_roster_admin", "mod_muc_http_auth", "mod_block_subscriptions")

LICENCE_HEADER = (
    "-- Copyright (C) 2026 the prosody-harness authors\n"
    "--\n"
    "-- This project is MIT licensed. Please see pyproject.toml at the root of the\n"
    "-- repository for the licence.\n"
    "--\n"
)
SECTION = re.compile(r"^-- (?P<title>\S.*?) -+$")
MARKER_WIDTH = 100

# Libraries (module:require) that more than one module carries: every copy is identical.
SHARED_LIBRARIES = {
    "pooled_http.lib.lua": ("mod_http_roster_admin", "mod_muc_http_auth"),
}


def lua_files() -> list[Path]:
    return sorted(path for name in STYLED for path in (MODULES / name).glob("*.lua"))


@pytest.mark.parametrize("path", lua_files(), ids=lambda path: path.name)
def test_starts_with_the_licence_header(path: Path) -> None:
    assert path.read_text().startswith(LICENCE_HEADER), f"{path} lacks the licence header"


@pytest.mark.parametrize("path", lua_files(), ids=lambda path: path.name)
def test_section_markers_are_full_width(path: Path) -> None:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if SECTION.match(line):
            assert len(line) == MARKER_WIDTH, f"{path.name}:{number}: marker is {len(line)} wide"


@pytest.mark.parametrize("name", STYLED)
def test_hooks_come_last(name: str) -> None:
    """The module file ends with its hooks: the table of contents of what it does."""
    text = (MODULES / name / f"{name}.lua").read_text()
    titles = [m.group("title") for line in text.splitlines() if (m := SECTION.match(line))]
    assert titles and titles[-1] == "Hooks", f"{name}: sections are {titles}"
    hooks_section = text.rsplit("\n-- Hooks ", 1)[1]
    before = text[: len(text) - len(hooks_section)]
    assert "module:hook(" not in before and "module:provides(" not in before, (
        f"{name}: a hook is registered before the Hooks section"
    )


@pytest.mark.parametrize("library", sorted(SHARED_LIBRARIES))
def test_shared_libraries_are_identical(library: str) -> None:
    copies = {name: (MODULES / name / library).read_bytes() for name in SHARED_LIBRARIES[library]}
    assert len(set(copies.values())) == 1, f"the copies of {library} differ: {sorted(copies)}"
