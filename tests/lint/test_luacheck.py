"""The Prosody modules in lua_modules/ are luacheck clean under the repository's .luacheckrc."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / ".luacheckrc"
LUACHECK = shutil.which("luacheck")

pytestmark = pytest.mark.skipif(
    LUACHECK is None,
    reason="luacheck is not installed (Debian: apt-get install lua-check; "
    "bin/ensure-system-packages installs it)",
)


def run_luacheck(*paths: str | Path) -> subprocess.CompletedProcess[str]:
    assert LUACHECK is not None
    return subprocess.run(
        [LUACHECK, "--config", str(CONFIG), "--no-cache", "--no-color", "--codes"]
        + [str(path) for path in paths],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_lua_modules_are_luacheck_clean() -> None:
    result = run_luacheck("lua_modules")
    # luacheck exits 0 when clean, 1 for warnings, 2 for errors (syntax), more if it broke.
    assert result.returncode == 0, f"luacheck is not clean:\n{result.stdout}{result.stderr}"
    assert "0 warnings / 0 errors" in result.stdout, result.stdout


def test_the_sandbox_lua_is_luacheck_clean() -> None:
    """The sandbox's stand-ins for Prosody's I/O run as Prosody code: the same rules apply."""
    result = run_luacheck("harness/sandbox/lua")
    assert result.returncode == 0, f"luacheck is not clean:\n{result.stdout}{result.stderr}"


def test_config_still_catches_globals(tmp_path: Path) -> None:
    """The Prosody globals are read-only: a module writing them, or any new global, is flagged."""
    module = tmp_path / "mod_careless.lua"
    module.write_text(
        "local jid = module.host;\n"
        "counter = 0;\n"  # a new global
        "prosody.events = nil;\n"  # replacing Prosody's state
        "module.host = jid;\n"  # the module API's own fields
        "hosts = nil;\n"  # the deprecated alias
    )
    result = run_luacheck(module)
    assert result.returncode == 1, result.stdout + result.stderr
    for line in (2, 3, 4, 5):
        assert f"mod_careless.lua:{line}:" in result.stdout, result.stdout


def test_config_lists_the_module_api(tmp_path: Path) -> None:
    """`module` is checked field by field: a misspelt method or a private field is flagged."""
    module = tmp_path / "mod_typos.lua"
    module.write_text(
        'module:hook("resource-bind", function () end);\n'  # the API
        'module:hoook("resource-bind", function () end);\n'  # a typo
        "local cache = module._iq_cache;\n"  # moduleapi's private state
        "function module.unload() end\n"  # a callback modulemanager calls
        "return cache;\n"
    )
    result = run_luacheck(module)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "mod_typos.lua:1:" not in result.stdout, result.stdout
    assert "mod_typos.lua:2:1: (W143) accessing undefined field 'hoook'" in result.stdout
    assert "mod_typos.lua:3:15: (W143) accessing undefined field '_iq_cache'" in result.stdout
    assert "mod_typos.lua:4:" not in result.stdout, result.stdout


def moduleapi_sources() -> list[Path]:
    """core/moduleapi.lua of every Prosody found here: Debian's, and any under .cache/."""
    found = [Path("/usr/lib/prosody/core/moduleapi.lua")]
    found += sorted(REPO.glob(".cache/prosody/*/usr/lib/prosody/core/moduleapi.lua"))
    return [path for path in found if path.is_file()]


@pytest.mark.skipif(not moduleapi_sources(), reason="no Prosody sources on this machine")
def test_config_accepts_every_method_of_the_module_api(tmp_path: Path) -> None:
    """Every `function api:name` of each installed Prosody's moduleapi.lua is allowed."""
    methods: set[str] = set()
    for source in moduleapi_sources():
        methods |= set(re.findall(r"^function api[:.](\w+)", source.read_text(), re.MULTILINE))
    assert {"hook", "get_option_string", "add_timer"} <= methods
    module = tmp_path / "mod_every_method.lua"
    module.write_text("".join(f"local _ = module.{name};\n" for name in sorted(methods)))
    result = run_luacheck(module)
    assert result.returncode == 0, result.stdout + result.stderr
