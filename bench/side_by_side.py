"""Side-by-side benchmark runs: our modules against a reference, alternately, in one run.

A benchmark that uses this module measures two modules folders (two *arms*) on the same
machine at the same moment: `--modules DIR` (ours, default lua_modules/) and either
`--against DIR`, `--against-commit REV` (the reference: the lua_modules/ of that commit,
checked out with `git worktree add` into a temporary folder that is removed afterwards) or
`--against-gc MODE` (the same modules, Prosody running the other garbage collector).
Rounds alternate the arms (A B, B A, A B, ...) so that neither always goes first, and the
figures are printed as a table of medians: ours, reference, ratio (ours / reference).
Every such benchmark also takes `--log-level` (Prosody's, default info as production
runs), `--prosody 0.12|13|PATH`, `--gc incremental|generational` (Prosody's garbage
collector, default Prosody's own), `--rounds`, `--markdown` (the table again in Markdown,
for docs/performance.md) and, where it has something to profile, `--profile`.

This file holds the arms, the options and the report. What the benchmarks measure with
(the instrumented Prosody, its probe module, CPU time from /proc, mock backends in their
own process) is in bench/instrumented.py; its names are importable from here too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from bench.instrumented import (
    LUA_SOURCES,
    PROBE_MODULE,
    BenchProsody,
    Probe,
    backend_process,
    cpu_seconds,
    memory_mb,
    print_profile,
    probe_folder,
    profile_both,
    with_probe,
)

__all__ = [
    "GC_MODES",
    "LOG_LEVELS",
    "LUA_SOURCES",
    "PROBE_MODULE",
    "REPO",
    "REPO_MODULES",
    "Arm",
    "BenchProsody",
    "Figure",
    "Probe",
    "add_arguments",
    "add_prosody_argument",
    "settings",
    "alternating",
    "arms",
    "backend_process",
    "commit_checkout",
    "cpu_seconds",
    "memory_mb",
    "print_profile",
    "print_table",
    "probe_folder",
    "profile_both",
    "with_probe",
]

REPO = Path(__file__).resolve().parents[1]
REPO_MODULES = REPO / "lua_modules"
LOG_LEVELS = ("debug", "info", "warn", "error")
GC_MODES = ("incremental", "generational")
LOAD_AT_START = os.getloadavg()[0]  # the machine's 1-minute load average when the run began


# -- command line ----------------------------------------------------------------------


def add_prosody_argument(parser: argparse.ArgumentParser, versions: bool = False) -> None:
    """`--prosody`: the version or launcher every server runs (or, with `versions`, a
    comma-separated list of them, for benchmarks that measure each)."""
    parser.add_argument(
        "--prosody",
        metavar="0.12,13" if versions else "0.12|13|PATH",
        help=(
            "Prosody versions or launchers, comma-separated"
            if versions
            else "Prosody version or launcher"
        )
        + " (default: the harness's default, $PROSODY_HARNESS_PROSODY or 0.12)",
    )


def add_arguments(parser: argparse.ArgumentParser, rounds: int, profile: bool = True) -> None:
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
    reference.add_argument(
        "--against-gc",
        choices=GC_MODES,
        help="the same modules under this garbage collector as the reference (what a "
        "server-wide `gc` setting buys and costs, measured side by side)",
    )
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="info",
        help="Prosody's log level in every arm (default: info, as production runs)",
    )
    add_prosody_argument(parser)
    parser.add_argument(
        "--gc",
        choices=GC_MODES,
        help="Prosody's garbage collector (its `gc = { mode = ... }` option; default: "
        "Prosody's own, incremental), in every arm but an --against-gc reference",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=rounds,
        help=f"measurement rounds per arm, alternating ({rounds})",
    )
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="also print the table as Markdown (for docs/performance.md)",
    )
    if profile:
        parser.add_argument(
            "--profile",
            action="store_true",
            help="also sample where Prosody's CPU time and Lua memory go (extra runs per "
            "arm, not timed)",
        )


def settings(args: argparse.Namespace) -> str:
    """How every arm's Prosody ran, for a table's title."""
    gc = f', gc = {{ mode = "{args.gc}" }}' if getattr(args, "gc", None) else ""
    if getattr(args, "against_gc", None):
        gc = ", each arm's collector as listed"
    return f"Prosody at {args.log_level} level{gc}"


# -- arms ------------------------------------------------------------------------------


@dataclass
class Arm:
    """One modules folder under measurement and the figures measured for it."""

    label: str  # "ours" or "reference"
    modules: Path
    origin: str  # what the folder is, for the report
    figures: dict[str, list[float]] = field(default_factory=dict)
    prosody: str = ""  # the version its server ran, once started
    gc: str | None = None  # Prosody's collector mode in this arm (None: Prosody's default)

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
    gc = getattr(args, "gc", None)
    ours = Arm("ours", _modules_folder(args.modules), _with_gc(args.modules, gc), gc=gc)
    if args.against:
        reference = Arm("reference", _modules_folder(args.against), args.against, gc=gc)
        yield [ours, reference]
    elif args.against_commit:
        with commit_checkout(args.against_commit) as (tree, commit):
            origin = f"lua_modules/ of {args.against_commit} ({commit[:12]})"
            yield [ours, Arm("reference", _modules_folder(tree / "lua_modules"), origin, gc=gc)]
    elif getattr(args, "against_gc", None):
        if args.against_gc == (gc or "incremental"):
            raise SystemExit(f"--against-gc {args.against_gc} is what 'ours' runs already")
        origin = _with_gc(args.modules, args.against_gc)
        yield [ours, Arm("reference", ours.modules, origin, gc=args.against_gc)]
    else:
        yield [ours]


def _with_gc(modules: str, gc: str | None) -> str:
    return f'{modules}, gc = {{ mode = "{gc}" }}' if gc else f"{modules}"


def _modules_folder(path: str | Path) -> Path:
    folder = Path(path).resolve()
    if not folder.is_dir():
        raise SystemExit(f"modules folder {folder} does not exist")
    return folder


def _git(*arguments: str) -> str:
    try:
        result = subprocess.run(
            ["git", "-C", str(REPO), *arguments], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise SystemExit(f"git {' '.join(arguments)}: git is not installed") from None
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


def print_table(
    title: str, arm_list: Sequence[Arm], rows: Sequence[Figure], markdown: bool = False
) -> None:
    """Medians per arm and, with a reference, the ratio ours / reference; with
    `markdown`, the same table again in Markdown (for docs/performance.md)."""
    load = f"load average {LOAD_AT_START:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    print(f"{title}\n  {date.today().isoformat()}, {load}")
    for arm in arm_list:
        version = f" on Prosody {arm.prosody}" if arm.prosody else ""
        print(f"  {arm.label}: {arm.origin}{version}")
    headers = ["figure (median)", "ours"] + (["reference", "ratio"] if len(arm_list) > 1 else [])
    table = [headers]
    for row in rows:
        values = [arm.median(row.key) for arm in arm_list]
        if all(value is None for value in values):
            continue  # a figure this run did not measure
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
    if markdown:
        print(f"\nProsody {arm_list[0].prosody or '?'}, {date.today().isoformat()}, {load}:")
        print("| " + " | ".join(headers) + " |")
        print("|" + "---|" * len(headers))
        for line in table[1:]:
            print("| " + " | ".join(cell.strip() for cell in line) + " |")
