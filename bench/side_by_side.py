"""Side-by-side benchmark runs: our modules against a reference, alternately, in one run.

A benchmark that uses this module measures two modules folders (two *arms*) on the same
machine at the same moment: `--modules DIR` (ours, default lua_modules/) and either
`--against DIR` or `--against-commit REV` (the reference: the lua_modules/ of that commit,
checked out with `git worktree add` into a temporary folder that is removed afterwards).
Rounds alternate the arms (A B, B A, A B, ...) so that neither always goes first, and the
figures are printed as a table of medians: ours, reference, ratio (ours / reference).

It also provides what such benchmarks measure with:

* `BenchProsody`: the harness's prosody target at a chosen log level (`--log-level`,
  default info, as production runs; the harness itself logs at debug), with this module's
  probe loaded beside the modules under test;
* `cpu_seconds(pid)`: the CPU time a process has run, from /proc (the scheduler's nanosecond
  account in /proc/PID/schedstat);
* `backend_process(kind)`: a mock backend in a process of its own;
* `Probe`: the probe's HTTP API inside Prosody: Lua memory allocated over a stretch of
  work (`collectgarbage("count")` with the collector stopped, so nothing is freed in
  between) and a sampling profiler (a debug count hook on the main thread and on every
  coroutine resumed meanwhile) that tells which Lua functions the work spent its time in.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from harness.profile import Profile, VirtualHostProfile
from harness.prosody_config import ServerLayout
from harness.targets.prosody import ProsodyTarget
from mock_backends import start_backend

REPO = Path(__file__).resolve().parents[1]
REPO_MODULES = REPO / "lua_modules"
LOG_LEVELS = ("debug", "info", "warn", "error")
PROBE_MODULE = "bench_probe"
TICKS = os.sysconf("SC_CLK_TCK")


# -- command line ----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser, rounds: int) -> None:
    """The options every side-by-side benchmark takes."""
    parser.add_argument(
        "--modules",
        metavar="DIR",
        default=str(REPO_MODULES),
        help="modules folder measured as 'ours' (default: lua_modules/)",
    )
    reference = parser.add_mutually_exclusive_group()
    reference.add_argument(
        "--against", metavar="DIR", help="a second modules folder, measured as the reference"
    )
    reference.add_argument(
        "--against-commit",
        metavar="REV",
        help="the lua_modules/ of this commit as the reference "
        "(checked out into a temporary git worktree)",
    )
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="info",
        help="Prosody's log level in every arm (default: info)",
    )
    parser.add_argument(
        "--prosody",
        metavar="0.12|13|PATH",
        help="Prosody version or launcher (default: the harness's default)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=rounds,
        help=f"measurement rounds per arm, alternating ({rounds})",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also sample where Prosody's CPU time and Lua memory go (two extra rounds per "
        "arm, not timed)",
    )


# -- arms ------------------------------------------------------------------------------


@dataclass
class Arm:
    """One modules folder under measurement and the figures measured for it."""

    label: str  # "ours" or "reference"
    modules: Path
    origin: str  # what the folder is, for the report
    figures: dict[str, list[float]] = field(default_factory=dict)
    prosody: str = ""  # the version its server ran, once started

    def record(self, figure: str, value: float) -> None:
        self.figures.setdefault(figure, []).append(value)

    def extend(self, figure: str, values: Iterable[float]) -> None:
        self.figures.setdefault(figure, []).extend(values)

    def median(self, figure: str) -> float | None:
        values = self.figures.get(figure)
        return statistics.median(values) if values else None


@contextmanager
def arms(args: argparse.Namespace) -> Iterator[list[Arm]]:
    """[ours] or [ours, reference], as the command line says; a commit checked out for
    the reference is removed on the way out."""
    ours = Arm("ours", _modules_folder(args.modules), f"{args.modules}")
    if args.against:
        yield [ours, Arm("reference", _modules_folder(args.against), args.against)]
    elif args.against_commit:
        with commit_checkout(args.against_commit) as (tree, commit):
            origin = f"lua_modules/ of {args.against_commit} ({commit[:12]})"
            yield [ours, Arm("reference", _modules_folder(tree / "lua_modules"), origin)]
    else:
        yield [ours]


def _modules_folder(path: str | Path) -> Path:
    folder = Path(path).resolve()
    if not folder.is_dir():
        raise SystemExit(f"modules folder {folder} does not exist")
    return folder


def _git(*arguments: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(REPO), *arguments], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"git {' '.join(arguments)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


@contextmanager
def commit_checkout(revision: str) -> Iterator[tuple[Path, str]]:
    """A detached `git worktree` of `revision` in a temporary folder, removed afterwards
    (the repository's own working tree is never touched)."""
    commit = _git("rev-parse", "--verify", f"{revision}^{{commit}}")
    parent = Path(tempfile.mkdtemp(prefix="bench-reference-"))
    tree = parent / "tree"
    _git("worktree", "add", "--detach", "--quiet", str(tree), commit)
    try:
        yield tree, commit
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(parent, ignore_errors=True)
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "prune"], capture_output=True, check=False
        )


def alternating(rounds: int, items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
    """(round, item) for every round, the items in turn: A B, then B A, then A B..."""
    for round_number in range(rounds):
        order = items if round_number % 2 == 0 else list(reversed(items))
        for item in order:
            yield round_number, item


# -- the report ------------------------------------------------------------------------


@dataclass
class Figure:
    """One row of the table: a figure every arm recorded under `key`."""

    key: str
    title: str
    unit: str
    digits: int = 1


def print_table(title: str, arm_list: Sequence[Arm], rows: Sequence[Figure]) -> None:
    """Medians per arm and, with a reference, the ratio ours / reference."""
    print(title)
    for arm in arm_list:
        version = f" on Prosody {arm.prosody}" if arm.prosody else ""
        print(f"  {arm.label}: {arm.origin}{version}")
    headers = ["figure (median)", "ours"] + (["reference", "ratio"] if len(arm_list) > 1 else [])
    table = [headers]
    for row in rows:
        values = [arm.median(row.key) for arm in arm_list]
        cells = [f"{row.title} [{row.unit}]"]
        cells += ["—" if v is None else f"{v:,.{row.digits}f}" for v in values]
        if len(values) > 1:
            ours, reference = values
            cells.append(f"{ours / reference:.2f}" if ours is not None and reference else "—")
        table.append(cells)
    widths = [max(len(line[i]) for line in table) for i in range(len(headers))]
    for n, line in enumerate(table):
        text = "  ".join(
            cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
            for i, cell in enumerate(line)
        )
        print(f"  {text}")
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


# -- Prosody under measurement ---------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU time the process has run so far, from /proc: the scheduler's nanosecond
    account (/proc/PID/schedstat; Prosody runs one thread), else user + system time from
    /proc/PID/stat (in clock ticks, 10 ms here)."""
    try:
        with open(f"/proc/{pid}/schedstat") as schedstat:
            return int(schedstat.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS


# -- mock web services in their own process ----------------------------------------------


def _serve_backend(kind: str, config: dict[str, Any], pipe: Connection) -> None:
    """Child process: one mock backend, until the parent says stop (or goes away)."""
    backend = start_backend(kind, config)
    try:
        pipe.send(backend.url)
        try:
            pipe.recv()
        except EOFError:
            pass
    finally:
        backend.stop()


@contextmanager
def backend_process(kind: str, config: dict[str, Any] | None = None) -> Iterator[str]:
    """A mock backend (see mock_backends) in a process of its own, as a real web service
    would be: it takes no CPU from the benchmark's clients (nor they from it). Yields
    its base URL; drive it through its control API (/_mock/...)."""
    parent_end, child_end = multiprocessing.Pipe()
    child = multiprocessing.Process(
        target=_serve_backend, args=(kind, config or {}, child_end), daemon=True
    )
    child.start()
    try:
        if not parent_end.poll(15):
            raise SystemExit(f"the mock {kind} backend did not start within 15 s")
        yield parent_end.recv()
    finally:
        with suppress(OSError):
            parent_end.send("stop")
        child.join(5)
        if child.is_alive():
            child.kill()


def with_probe(profile: Profile) -> Profile:
    """The profile with the probe on its first virtual host (which then serves HTTP)."""
    first = next(iter(profile.hosts.values()), None)
    if first is None:
        profile.hosts["localhost"] = first = VirtualHostProfile("localhost")
    if PROBE_MODULE not in first.modules_enabled:
        first.modules_enabled.append(PROBE_MODULE)
    return profile


class BenchProsody(ProsodyTarget):
    """The prosody target at `log_level`, with the probe's folder on the plugin path."""

    def __init__(
        self,
        profile: Profile,
        modules: Path,
        prosody: str | None,
        log_level: str,
        probe_folder: Path,
    ) -> None:
        super().__init__(with_probe(profile), modules_dir=str(modules), prosody=prosody)
        self.log_level = log_level
        self.probe_folder = probe_folder

    def _layout(self, directory: Path, plugin_dir: Path) -> ServerLayout:
        layout = super()._layout(directory, plugin_dir)
        layout.log_level = self.log_level
        layout.plugin_paths = [*layout.plugin_paths, str(self.probe_folder)]
        return layout

    def check_log(self) -> None:
        """Stop the benchmark if Prosody logged an error (a broken arm measures nothing)."""
        errors = self.error_lines()
        if errors:
            raise SystemExit("Prosody logged errors:\n" + "\n".join(e.raw for e in errors))


@contextmanager
def probe_folder() -> Iterator[Path]:
    """A temporary plugin folder holding the probe module."""
    folder = Path(tempfile.mkdtemp(prefix="bench-probe-"))
    try:
        (folder / f"mod_{PROBE_MODULE}.lua").write_text(PROBE_LUA, encoding="utf-8")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class Probe:
    """The probe's HTTP API on one running BenchProsody."""

    def __init__(self, server: ProsodyTarget) -> None:
        self.server = server
        self._overhead_kb: float | None = None

    def _call(self, action: str) -> dict[str, Any]:
        response = self.server.http("POST", f"/{PROBE_MODULE}/{action}", body=b"", timeout=30)
        if response.status != 200:
            raise SystemExit(f"probe {action}: HTTP {response.status} {response.text()}")
        return response.json()

    def allocated_kb(self, work: Callable[[], None]) -> float:
        """KB of Lua memory allocated inside Prosody while `work` runs, less what the
        probe's own two requests allocate (measured once, with no work between)."""
        if self._overhead_kb is None:
            self._overhead_kb = 0.0
            self._overhead_kb = min(self.allocated_kb(lambda: None) for _ in range(3))
        before = self._call("gc-stop")["kb"]
        try:
            work()
        finally:
            after = self._call("gc-restart")["kb"]
        return after - before - self._overhead_kb

    def profiled(
        self, work: Callable[[], None], memory: bool = False
    ) -> tuple[float, list[dict[str, Any]]]:
        """Run `work` under the sampling profiler: the total sampled and every function
        by what was spent in it and what it called (inclusive), with its own (self)
        share. Each sample weighs the CPU seconds since the one before, or with
        `memory` the KB allocated since (the collector stopped meanwhile)."""
        self._call("profile-alloc-start" if memory else "profile-start")
        try:
            work()
        finally:
            result = self._call("profile-stop")
        return result["seconds"], result["functions"]


def print_profile(
    label: str,
    total: float,
    functions: list[dict[str, Any]],
    sources: Sequence[Path],
    memory: bool = False,
    top: int = 30,
) -> None:
    """The `top` functions by inclusive share, then every source file by self share."""
    what = f"{total:,.0f} KB allocated" if memory else f"{total * 1000:,.0f} ms of CPU"
    print(
        f"  where Prosody's {'Lua memory' if memory else 'CPU time'} went, {label} ({what}, "
        f"sampled every {100 if memory else 1000:,} VM instructions and charged to the Lua "
        "function running):"
    )
    total = total or 1
    print(f"    {'incl%':>6} {'self%':>6}  function (file:line defined)")
    for entry in functions[:top]:
        where = _shorten(entry["where"], sources)
        print(
            f"    {100 * entry['inclusive'] / total:6.1f} {100 * entry['self'] / total:6.1f}"
            f"  {where}"
        )
    by_file: dict[str, float] = {}
    for entry in functions:
        source = _shorten(entry["where"], sources).rsplit(":", 1)[0]
        by_file[source] = by_file.get(source, 0.0) + entry["self"]
    print(f"    {'self%':>6}  file")
    for source, weight in sorted(by_file.items(), key=lambda item: -item[1])[:15]:
        print(f"    {100 * weight / total:6.1f}  {source}")


def _shorten(where: str, sources: Sequence[Path]) -> str:
    for source in sources:
        prefix = str(source) + "/"
        if where.startswith(prefix):
            return where[len(prefix) :]
    return where


# The probe, loaded on the first virtual host of every arm alike. It allocates nothing
# between its requests except while profiling (whose results are not timed).
PROBE_LUA = r"""
-- Benchmark probe (written by bench/side_by_side.py): Lua memory and a sampling profiler.
local json = require "util.json";

module:depends("http");

local sample_every = 1000; -- VM instructions between samples
local self_samples, inclusive_samples;
local hooked = setmetatable({}, { __mode = "k" });
local original_resume = coroutine.resume;
local main_thread = debug.getregistry()[1]; -- LUA_RIDX_MAINTHREAD: where net.server runs

-- A sample weighs what was spent since the previous one: CPU seconds (os.clock), or KB
-- allocated (collectgarbage("count"), with the collector stopped while profiling).
local clock = os.clock;
local function allocated() return collectgarbage("count"); end
local measure = clock;
local total_samples, total_seconds, last_clock = 0, 0, measure();

local function frame_key(info)
	local source = info.source:gsub("^@", "");
	return source .. ":" .. info.linedefined .. (info.what == "main" and " (main chunk)" or "");
end

local function sample()
	local info = debug.getinfo(2, "S");
	if not info then return; end
	-- Time spent in C (the garbage collector, string functions, socket calls) counts
	-- where it was spent, not as an instruction.
	local now = measure();
	local weight = now - last_clock;
	if weight < 0 then weight = 0; end -- memory freed explicitly (string buffers, resized tables)
	total_samples, total_seconds = total_samples + 1, total_seconds + weight;
	local key = frame_key(info);
	self_samples[key] = (self_samples[key] or 0) + weight;
	local seen = {};
	for level = 2, 60 do
		local frame = debug.getinfo(level, "S");
		if not frame then break; end
		local frame_id = frame.what ~= "C" and frame_key(frame);
		if frame_id and not seen[frame_id] then
			seen[frame_id] = true;
			inclusive_samples[frame_id] = (inclusive_samples[frame_id] or 0) + weight;
		end
	end
	last_clock = measure(); -- what this hook spent is nobody's
end

local function hooked_resume(thread, ...)
	if not hooked[thread] then
		hooked[thread] = true;
		debug.sethook(thread, sample, "", sample_every);
	end
	return original_resume(thread, ...);
end

local function answer(data)
	return {
		status_code = 200;
		headers = { content_type = "application/json" };
		body = json.encode(data);
	};
end

local actions = {};

function actions.gc_stop()
	collectgarbage("collect");
	collectgarbage("stop");
	return { kb = collectgarbage("count") };
end

function actions.gc_restart()
	local kb = collectgarbage("count");
	collectgarbage("restart");
	return { kb = kb };
end

local function profile_start(by, every)
	measure, sample_every = by, every;
	self_samples, inclusive_samples, total_samples, total_seconds = {}, {}, 0, 0;
	last_clock = measure();
	coroutine.resume = hooked_resume;
	debug.sethook(main_thread, sample, "", sample_every);
	local current = coroutine.running();
	if current ~= main_thread then
		hooked[current] = true;
		debug.sethook(current, sample, "", sample_every);
	end
	return { started = true };
end

function actions.profile_start()
	return profile_start(clock, 1000);
end

function actions.profile_alloc_start()
	collectgarbage("collect");
	collectgarbage("stop");
	return profile_start(allocated, 100); -- finer: allocations are charged where they happen
end

function actions.profile_stop()
	debug.sethook(main_thread);
	if measure == allocated then collectgarbage("restart"); end
	coroutine.resume = original_resume;
	for thread in pairs(hooked) do
		if coroutine.status(thread) ~= "dead" then debug.sethook(thread); end
		hooked[thread] = nil;
	end
	local list = {};
	for key, count in pairs(inclusive_samples or {}) do
		list[#list + 1] = { where = key, inclusive = count, self = self_samples[key] or 0 };
	end
	table.sort(list, function (a, b) return a.inclusive > b.inclusive; end);
	return { functions = list, samples = total_samples, seconds = total_seconds };
end

module:provides("http", {
	route = {
		["POST /*"] = function (_, action)
			local handler = actions[(action or ""):gsub("-", "_")];
			if not handler then return 404; end
			return answer(handler());
		end;
	};
});
"""
