"""Where a run's line counts gather: one `CoverageRecorder` per run, handed to every
target it starts (`attach`), and what each target does with it.

Every target runs the same Prosody module, mod_harness_coverage (lua/), loaded on "*"
before any host's modules by lua/load_first.lua; it counts the lines run of the files
under the modules folder and writes them to a file when the server stops:

* real Prosody (prosody and docker targets): both Lua files are copied into the run
  directory, which the container mounts at the same path, so the config names them there
  (`plugin_paths`, `RunScript`); the counts file is read after the server stopped, before
  the run directory goes;
* the sandbox: the plugin folder is searched first, load_first.lua runs after the boot
  with the options as an argument, and the counts file lies in a folder of its own.

Counts are kept per target and Prosody version ("sandbox 0.12.3") and per file, by the
file's path relative to the modules folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from harness.coverage.model import Counts, TargetRun
from harness.prosody_install import REPO

LUA_DIR = Path(__file__).resolve().parent / "lua"
MODULE_FILE = "mod_harness_coverage.lua"
LOAD_FIRST_FILE = "load_first.lua"
COUNTS_HEADER = "prosody-harness coverage counts 1"
RUN_SUBDIR = "harness-coverage"  # in a real target's run directory
COUNTS_NAME = "counts.txt"


def read_counts_file(path: str | os.PathLike[str]) -> dict[str, dict[int, int]]:
    """The counts mod_harness_coverage wrote: {source path: {line: times run}}."""
    files: dict[str, dict[int, int]] = {}
    current: dict[int, int] | None = None
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        if handle.readline().rstrip("\n") != COUNTS_HEADER:
            raise ValueError(f"{path}: not a counts file of mod_harness_coverage")
        for raw in handle:
            line = raw.rstrip("\n")
            if line.startswith("@"):
                current = files.setdefault(line[1:], {})
            elif line and current is not None:
                number, _, times = line.partition(" ")
                current[int(number)] = current.get(int(number), 0) + int(times)
    return files


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class CoverageRecorder:
    """The counts of one run, gathered from every server it started (any thread)."""

    def __init__(self, modules_dir: str | None = None) -> None:
        self.modules_dir = os.path.realpath(modules_dir or REPO / "lua_modules")
        self.runs: dict[str, TargetRun] = {}
        self.unwritten = 0  # servers that loaded the module but ended without writing
        self._lock = threading.Lock()

    def attach(self, target: Any) -> None:
        """Have `target` count lines when it starts (the targets ask `target.coverage`)."""
        target.coverage = TargetCoverage(self, target)

    def add(self, target: str, version: str, roots: list[str], files: dict[str, Any]) -> None:
        """Add a server's counts (by source path) to its target and version's."""
        relative = _relative_counts(files, [*roots, self.modules_dir])
        label = f"{target} {version}".strip()
        with self._lock:
            run = self.runs.setdefault(label, TargetRun(target, version))
            run.servers += 1
            run.add(relative)

    def note_unwritten(self) -> None:
        with self._lock:
            self.unwritten += 1


def _relative_counts(files: dict[str, dict[int, int]], roots: list[str]) -> Counts:
    prefixes = []
    for root in roots:
        for form in (os.path.normpath(root), os.path.realpath(root)):
            prefixes.append(form.rstrip("/") + "/")
    counts: Counts = {}
    for path, lines in files.items():
        normal = os.path.normpath(path)
        for prefix in prefixes:
            if normal.startswith(prefix):
                into = counts.setdefault(normal[len(prefix) :], {})
                for line, times in lines.items():
                    into[line] = into.get(line, 0) + times
                break
    return counts


class TargetCoverage:
    """What one target does for coverage: set it up before its server starts, and hand
    the counts to the recorder after the server stopped."""

    def __init__(self, recorder: CoverageRecorder, target: Any) -> None:
        self.recorder = recorder
        self.target = target
        self.roots: list[str] = []
        self.counts_file: Path | None = None
        self._own_dir: str | None = None  # the sandbox's counts folder

    # -- real Prosody (prosody and docker targets) ----------------------------------------

    def plugin_paths(self, run_dir: Path, modules_dir: Path) -> list[str]:
        """Copy the Lua files into the run directory; the folder for plugin_paths."""
        folder = Path(run_dir) / RUN_SUBDIR
        folder.mkdir(exist_ok=True)
        folder.chmod(0o777)  # a container's Prosody may run as another user
        for name in (MODULE_FILE, LOAD_FIRST_FILE):
            shutil.copyfile(LUA_DIR / name, folder / name)
            (folder / name).chmod(0o644)
        self.roots = [str(modules_dir)]
        self.counts_file = folder / COUNTS_NAME
        return [str(folder)]

    def config_prefix(self) -> str:
        """The lines that open the config (the global section): the options, then the
        script that loads the module first."""
        if self.counts_file is None:
            return ""
        roots = ", ".join(lua_string(root) for root in self.roots)
        script = self.counts_file.parent / LOAD_FIRST_FILE
        return (
            "-- prosody-harness --coverage (harness/coverage): count the lines run of the\n"
            "-- modules folder's files; mod_harness_coverage is loaded before any other.\n"
            f"harness_coverage_file = {lua_string(str(self.counts_file))}\n"
            f"harness_coverage_roots = {{ {roots} }}\n"
            f"RunScript {lua_string(str(script))}\n\n"
        )

    def collect(self) -> None:
        """After the server stopped: its counts to the recorder (once)."""
        counts_file, self.counts_file = self.counts_file, None
        if counts_file is None:
            return
        started = counts_file.with_name(counts_file.name + ".started")
        if counts_file.exists():
            self.recorder.add(
                self.target.name, self.target.version, self.roots, read_counts_file(counts_file)
            )
        elif started.exists():
            self.recorder.note_unwritten()

    # -- the sandbox ---------------------------------------------------------------------

    def sandbox_options(self, modules_dir: str) -> dict[str, Any]:
        """Keyword arguments for Sandbox: the plugin folder, and the script run before
        the start with the module's options."""
        self._own_dir = tempfile.mkdtemp(prefix="prosody-harness-coverage-")
        self.counts_file = Path(self._own_dir) / COUNTS_NAME
        self.roots = [modules_dir]
        settings = {"file": str(self.counts_file), "roots": self.roots}
        return {
            "plugin_dirs": [str(LUA_DIR)],
            "run_scripts": [(str(LUA_DIR / LOAD_FIRST_FILE), settings)],
        }

    def collect_sandbox(self) -> None:
        try:
            self.collect()
        finally:
            own, self._own_dir = self._own_dir, None
            if own:
                shutil.rmtree(own, ignore_errors=True)


# -- what the targets call (one line each; nothing happens without --coverage) -----------


def _of(target: Any) -> TargetCoverage | None:
    return getattr(target, "coverage", None)


def plugin_paths(target: Any, run_dir: Path, modules_dir: Path) -> list[str]:
    coverage = _of(target)
    return coverage.plugin_paths(run_dir, modules_dir) if coverage else []


def config_prefix(target: Any) -> str:
    coverage = _of(target)
    return coverage.config_prefix() if coverage else ""


def collect(target: Any) -> None:
    coverage = _of(target)
    if coverage:
        coverage.collect()


def sandbox_options(target: Any, modules_dir: str) -> dict[str, Any]:
    coverage = _of(target)
    return coverage.sandbox_options(modules_dir) if coverage else {}


def collect_sandbox(target: Any) -> None:
    coverage = _of(target)
    if coverage:
        coverage.collect_sandbox()


def wait_for_exit(target: Any, container: Any, seconds: float = 10.0) -> None:
    """Docker: let the container's Prosody finish its shutdown (and write the counts)
    before the container is removed."""
    if _of(target) is None:
        return
    try:
        container.wait(timeout=seconds)
    except Exception:  # noqa: BLE001 - a container gone or stuck is removed all the same
        pass
