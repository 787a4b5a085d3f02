"""The Prosody modules in lua_modules/ are luacheck clean under the repository's .luacheckrc."""

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
