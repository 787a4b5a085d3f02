"""Prosody under measurement: what the benchmarks measure with.

* `BenchProsody`: the harness's prosody target at a chosen log level (`--log-level`; the
  harness itself logs at debug), with the probe module (bench/probe/mod_bench_probe.lua)
  loaded on its first virtual host, beside the modules under test;
* `Probe`: the probe's HTTP API inside Prosody: Lua memory allocated over a stretch of
  work (`collectgarbage("count")` with the collector stopped, so nothing is freed in
  between) and a sampling profiler (a debug count hook on the main thread and on every
  coroutine resumed meanwhile) that tells which Lua functions the work spent its time in;
  `print_profile` prints what it found;
* `cpu_seconds(pid)`: the CPU time a process has run, from /proc (the scheduler's
  nanosecond account in /proc/PID/schedstat);
* `backend_process(kind)`: a mock backend in a process of its own;
* `harness_log_level(level)`: the harness's own targets (as `prosody-harness run` starts
  them) at another log level, for the benchmarks that measure the harness itself.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from harness.profile import Profile, VirtualHostProfile
from harness.prosody_config import ServerLayout
from harness.targets.prosody import ProsodyTarget
from mock_backends import start_backend

REPO = Path(__file__).resolve().parents[1]
PROBE_MODULE = "bench_probe"
PROBE_FOLDER = Path(__file__).resolve().parent / "probe"  # holds mod_bench_probe.lua
# Where Prosody's own Lua sources are, to shorten file names in a profile.
LUA_SOURCES = [Path("/usr/lib/prosody"), REPO / ".cache/prosody/13.0.1/usr/lib/prosody"]
TICKS = os.sysconf("SC_CLK_TCK")


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


def memory_mb(pid: int) -> dict[str, float]:
    """The process's resident memory now (VmRSS) and at its peak so far (VmHWM), in MB,
    from /proc/PID/status."""
    figures = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                figures[name] = int(value.split()[0]) / 1024
    return figures


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


# -- Prosody with the probe ----------------------------------------------------------------


def with_probe(profile: Profile) -> Profile:
    """The profile with the probe on its first virtual host (which then serves HTTP)."""
    first = next(iter(profile.hosts.values()), None)
    if first is None:
        profile.hosts["localhost"] = first = VirtualHostProfile("localhost")
    if PROBE_MODULE not in first.modules_enabled:
        first.modules_enabled.append(PROBE_MODULE)
    return profile


@contextmanager
def probe_folder() -> Iterator[Path]:
    """The plugin folder holding the probe module (bench/probe/)."""
    if not (PROBE_FOLDER / f"mod_{PROBE_MODULE}.lua").is_file():
        raise SystemExit(f"the probe module is missing from {PROBE_FOLDER}")
    yield PROBE_FOLDER


class BenchProsody(ProsodyTarget):
    """The prosody target at `log_level`, with the probe's folder on the plugin path (and
    with `gc`, Prosody's garbage collector in that mode)."""

    def __init__(
        self,
        profile: Profile,
        modules: Path,
        prosody: str | None,
        log_level: str,
        probe_folder: Path = PROBE_FOLDER,
        gc: str | None = None,
    ) -> None:
        if gc:
            profile.options["gc"] = {"mode": gc}
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
def harness_log_level(level: str) -> Iterator[None]:
    """Every prosody (and docker) target started meanwhile logs at `level` instead of the
    harness's debug. For benchmarks of the harness itself, whose targets the runner
    creates: the layout method is wrapped for the time being, in this process only."""
    original = ProsodyTarget._layout

    def layout_at_level(self: ProsodyTarget, directory: Path, plugin_dir: Path) -> ServerLayout:
        layout = original(self, directory, plugin_dir)
        layout.log_level = level
        return layout

    ProsodyTarget._layout = layout_at_level  # type: ignore[method-assign]
    try:
        yield
    finally:
        ProsodyTarget._layout = original  # type: ignore[method-assign]


# -- the probe's API -------------------------------------------------------------------------


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

    def allocated_kb(self, work: Callable[[], Any]) -> float:
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
        self, work: Callable[[], Any], memory: bool = False
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


def profile_both(probe: Probe, label: str, modules: Path, work: Callable[[], Any]) -> None:
    """Print where `work` spends Prosody's CPU time, then its Lua memory (two runs)."""
    for memory in (False, True):
        total, functions = probe.profiled(work, memory=memory)
        print_profile(label, total, functions, [modules, *LUA_SOURCES], memory)


def _shorten(where: str, sources: Sequence[Path]) -> str:
    for source in sources:
        prefix = str(source) + "/"
        if where.startswith(prefix):
            return where[len(prefix) :]
    return where
