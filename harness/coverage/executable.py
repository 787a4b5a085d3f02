"""Which lines of a Lua file are executable, from its compiled code.

`luac5.4 -l -p FILE` lists every function's instructions with the source line of each.
A line is executable when some instruction on it can run, which is exactly when Lua 5.4's
line hook can report it:

* OP_VARARGPREP (the first instruction of a vararg function, on its `function` line) never
  reports its line: the hook starts at the next instruction (lvm.c, ldebug.c);
* an instruction no path reaches never runs: code after a `goto` or an endless loop,
  the return Lua adds at the end of every function when each path has returned already,
  the return after a tail call (`return f(...)` spread over lines: its last line).
  The paths are followed through the instructions' jumps (the listing's "to N") and
  skips (a test skips the jump after it; LFALSESKIP always skips one).

A function's `end` line holds the instruction that makes the function (in the enclosing
one), so it is executable there and counted when the function is made, and again each
time the function runs off its end.

So a file's percentage counts only lines a run could have reported.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass

LUAC_NAMES = ("luac5.4", "luac")
LUAC_TIMEOUT_SECONDS = 30

FUNCTION_HEADER = re.compile(r"^(main|function) <(.*):(\d+),(\d+)> \((\d+) instructions? ")
INSTRUCTION = re.compile(r"^\s+(\d+)\s+\[(-|\d+)\]\s+([A-Z0-9_]+)\b(.*)$")
JUMP_TARGET = re.compile(r";\s*(?:exit )?to (\d+)\s*$")

# A tail call never comes back: the callee returns for the caller (Lua 5.4's OP_TAILCALL
# ends in `goto ret` for a C function too), so the RETURN Lua writes after it never runs.
NO_SUCCESSOR = frozenset({"RETURN", "RETURN0", "RETURN1", "TAILCALL"})
ONLY_JUMP = frozenset({"JMP", "TFORPREP"})  # go to their target, never to the next
# Tests: when the condition does not hold as wanted, skip the next instruction (a JMP).
SKIP_OR_NEXT = frozenset(
    {"EQ", "LT", "LE", "EQK", "EQI", "LTI", "LEI", "GTI", "GEI", "TEST", "TESTSET"}
)
ALWAYS_SKIP = frozenset({"LFALSESKIP"})
NEVER_REPORTED = frozenset({"VARARGPREP"})


class LuacError(RuntimeError):
    """luac is missing or could not compile the file."""


@dataclass
class Instruction:
    index: int  # 1-based, as listed
    line: int
    opcode: str
    target: int | None  # the listed jump target, if any


def find_luac() -> str:
    for name in LUAC_NAMES:
        path = shutil.which(name)
        if path and _is_54(path):
            return path
    raise LuacError(
        "luac5.4 (Debian package lua5.4, which Prosody depends on) is needed to tell which "
        "lines are executable: apt-get install lua5.4"
    )


def _is_54(path: str) -> bool:
    try:
        said = subprocess.run(
            [path, "-v"], capture_output=True, text=True, timeout=LUAC_TIMEOUT_SECONDS
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "Lua 5.4" in (said.stdout + said.stderr)


def listing(path: str, luac: str | None = None) -> str:
    """luac's listing of the file's instructions (LuacError when it does not compile)."""
    try:
        done = subprocess.run(
            [luac or find_luac(), "-l", "-p", path],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=LUAC_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise LuacError(f"luac took over {LUAC_TIMEOUT_SECONDS} s on {path}") from None
    if done.returncode != 0:
        raise LuacError(done.stderr.strip() or f"luac failed on {path}")
    return done.stdout


def parse_listing(text: str) -> list[list[Instruction]]:
    """The listing's functions, each a list of its instructions in order."""
    functions: list[list[Instruction]] = []
    current: list[Instruction] | None = None
    for raw in text.splitlines():
        if FUNCTION_HEADER.match(raw):
            current = []
            functions.append(current)
            continue
        found = INSTRUCTION.match(raw)
        if current is None or not found:
            continue
        index, line, opcode, rest = found.groups()
        target = JUMP_TARGET.search(rest)
        current.append(
            Instruction(
                int(index),
                0 if line == "-" else int(line),
                opcode,
                int(target.group(1)) if target and opcode in _JUMPS else None,
            )
        )
    return functions


_JUMPS = frozenset({"JMP", "FORPREP", "FORLOOP", "TFORPREP", "TFORLOOP"})


def _successors(instruction: Instruction) -> list[int]:
    here, opcode = instruction.index, instruction.opcode
    if opcode in NO_SUCCESSOR:
        return []
    if opcode in ALWAYS_SKIP:
        return [here + 2]
    if opcode in SKIP_OR_NEXT:
        return [here + 1, here + 2]
    jump = [instruction.target] if instruction.target is not None else []
    if opcode in ONLY_JUMP:
        return jump
    return [here + 1, *jump]


def reachable(instructions: list[Instruction]) -> list[Instruction]:
    """The instructions some path from the function's first one reaches."""
    by_index = {ins.index: ins for ins in instructions}
    seen: set[int] = set()
    todo = [instructions[0].index] if instructions else []
    while todo:
        index = todo.pop()
        if index in seen or index not in by_index:
            continue
        seen.add(index)
        todo.extend(_successors(by_index[index]))
    return [ins for ins in instructions if ins.index in seen]


def executable_lines_of_listing(text: str) -> set[int]:
    lines: set[int] = set()
    for function in parse_listing(text):
        for ins in reachable(function):
            if ins.opcode not in NEVER_REPORTED and ins.line > 0:
                lines.add(ins.line)
    return lines


_cache: dict[str, set[int]] = {}  # by the file's content digest
_cache_lock = threading.Lock()


def executable_lines(path: str, luac: str | None = None) -> set[int]:
    """The file's executable lines (see the module docstring); LuacError if it does not
    compile with Lua 5.4."""
    with open(path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    with _cache_lock:
        if digest in _cache:
            return set(_cache[digest])
    lines = executable_lines_of_listing(listing(path, luac))
    with _cache_lock:
        _cache[digest] = lines
    return set(lines)
