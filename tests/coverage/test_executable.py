"""Executable lines from luac's listing: exactly the lines Lua 5.4's line hook can report."""

from __future__ import annotations

import shutil
import subprocess
import textwrap

import pytest

from harness.coverage.executable import LuacError, executable_lines

pytestmark = pytest.mark.skipif(
    shutil.which("luac5.4") is None, reason="luac5.4 (Debian package lua5.4) is missing"
)

SOURCE = """\
local x = ...                       -- 1
local function f(a)                 -- 2: no instruction (the closure is made on 7)
	if a then                         -- 3
		return 1                        -- 4
	end                               -- 5: no instruction
	return 2                          -- 6
end                                 -- 7: the closure; f's own final return is unreachable

local function g(...)               -- 9: VARARGPREP only, never reported
	for i = 1, 3 do                   -- 10
		x = i                           -- 11
		if i == 2 then break end        -- 12
		x = -i                          -- 13
	end                               -- 14: no instruction
end                                 -- 15: g's final return (reachable), and the closure

-- a comment                        -- 17
return function ()                  -- 18: no instruction (the closure is made on 23)
	while true do                     -- 19: no instruction
		if f(x) then break end          -- 20
	end
	return g(1, 2)                    -- 22
end                                 -- 23
"""


def write(tmp_path, text: str) -> str:
    path = tmp_path / "sample.lua"
    path.write_text(text)
    return str(path)


def test_lines_with_reachable_instructions_are_executable(tmp_path):
    assert executable_lines(write(tmp_path, SOURCE)) == {
        1,
        3,
        4,
        6,
        7,
        10,
        11,
        12,
        13,
        15,
        20,
        22,
        23,
    }


def test_code_no_path_reaches_is_not_executable(tmp_path):
    text = (
        "local function h()\n"  # 1: no instruction
        "\tgoto done\n"  # 2: a jump
        '\tprint("dead")\n'  # 3: compiled, never reached
        "\t::done::\n"  # 4: a label, no instruction
        "\treturn 1\n"  # 5
        "end\n"  # 6: the closure (h's own final return: unreachable)
        "return h\n"  # 7
    )
    assert executable_lines(write(tmp_path, text)) == {2, 5, 6, 7}


def test_the_line_of_the_return_after_a_tail_call_is_not_executable(tmp_path):
    text = (
        "local function f(a, b) return a end\n"  # 1
        "return function ()\n"  # 2: no instruction
        "\treturn f(1, {\n"  # 3: the tail call
        "\t\tx = 1,\n"  # 4
        "\t})\n"  # 5: only the RETURN after it: never run
        "end\n"  # 6: the closure
    )
    assert executable_lines(write(tmp_path, text)) == {1, 3, 4, 6}


def test_the_hook_reports_exactly_the_executable_lines_of_code_run_in_full(tmp_path):
    """Run every path of SOURCE under Lua 5.4's line hook: what it reports is the set."""
    path = write(tmp_path, SOURCE)
    runner = tmp_path / "run.lua"
    runner.write_text(
        textwrap.dedent(
            f"""
            local seen = {{}}
            local chunk = assert(loadfile({path!r}))
            debug.sethook(function (_, line)
                if debug.getinfo(2, "S").source == "@" .. {path!r} then seen[line] = true end
            end, "l")
            local x_false = chunk(false)
            x_false()                      -- f(false): line 6; the loop breaks at 2
            local x_true = chunk(true)
            x_true()                       -- f(true): line 4
            debug.sethook()
            local lines = {{}}
            for line in pairs(seen) do lines[#lines + 1] = line end
            table.sort(lines)
            print(table.concat(lines, " "))
            """
        )
    )
    lua = shutil.which("lua5.4")
    if lua is None:
        pytest.skip("lua5.4 is missing")
    said = subprocess.run([lua, str(runner)], capture_output=True, text=True, timeout=30)
    assert said.returncode == 0, said.stderr
    reported = {int(n) for n in said.stdout.split()}
    assert reported == executable_lines(path)


def test_a_file_that_does_not_compile_is_an_error(tmp_path):
    with pytest.raises(LuacError, match="sample.lua"):
        executable_lines(write(tmp_path, "local = 1\n"))
