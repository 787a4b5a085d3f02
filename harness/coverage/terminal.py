"""The coverage summary printed at the end of `prosody-harness run --coverage`: for each
Prosody version a table of the modules folder's files (executable lines, and per target
the lines run and the percentage), then the lines only some targets ran."""

from __future__ import annotations

from collections import defaultdict
from itertools import groupby

from harness.coverage.model import TargetRun
from harness.coverage.summary import Difference, Summary, percent

MAX_GROUPS_SHOWN = 30


def _cell(ran: int, lines: int) -> str:
    return f"{ran:>5} {percent(ran, lines):5.1f}%"


def summary_text(summary: Summary, where: str = "") -> str:
    if not summary.runs:
        return "coverage: no counts were collected (no server loaded mod_harness_coverage)" + (
            f"; reports in {where}" if where else ""
        )
    out = [f"Line coverage of {summary.data.modules_dir} (lines run of the executable lines)"]
    by_version: dict[str, list[TargetRun]] = defaultdict(list)
    for run in summary.runs:
        by_version[run.version].append(run)
    for version, runs in by_version.items():
        out += [""] + _table(summary, version, runs)
    out.append("")
    kept = [run for run in summary.runs if run.label in summary.data.kept]
    for run in kept:
        out.append(f"{run.label}: kept from an earlier run into the same folder ({run.date})")
    if summary.not_loaded:
        shown = ", ".join(summary.not_loaded[:8]) + (", ..." if len(summary.not_loaded) > 8 else "")
        out.append(f"Not loaded by any target: {shown}")
    unexpected = sorted(
        f"{f.path}:{line} ({label})"
        for f in summary.files
        for label, lines in f.unexpected.items()
        for line in lines
    )
    if unexpected:
        out.append(
            "Lines reported that luac calls not executable (not counted): "
            + ", ".join(unexpected[:10])
            + (" ..." if len(unexpected) > 10 else "")
        )
    out += differences_text(summary.differences, summary.data.limited)
    if where:
        out.append(f"Reports: {where}/index.html (a page per file), {where}/cobertura.xml")
    return "\n".join(out)


def _table(summary: Summary, version: str, runs: list[TargetRun]) -> list[str]:
    labels = [run.label for run in runs]
    names = [run.target for run in runs]
    width = max([len("file"), *(len(f.path) for f in summary.files)])
    column = max(12, *(len(name) for name in names))
    out = [
        f"Prosody {version}".strip(),
        f"{'file':<{width}}  {'lines':>5}  " + "  ".join(f"{n:>{column}}" for n in names),
    ]
    for figures in summary.files:
        lines = len(figures.executable)
        cells = [_cell(len(figures.run.get(label, ())), lines) for label in labels]
        note = f"  ({figures.problem})" if figures.problem else ""
        out.append(
            f"{figures.path:<{width}}  {lines:>5}  "
            + "  ".join(f"{c:>{column}}" for c in cells)
            + note
        )
    total = summary.totals(labels[0])[1]
    cells = [_cell(summary.totals(label)[0], total) for label in labels]
    out.append(f"{'total':<{width}}  {total:>5}  " + "  ".join(f"{c:>{column}}" for c in cells))
    return out


def line_ranges(lines: list[int]) -> str:
    """[3, 4, 5, 9] -> "3-5, 9"."""
    parts = []
    for _, group in groupby(enumerate(sorted(lines)), key=lambda pair: pair[1] - pair[0]):
        run = [line for _, line in group]
        parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ", ".join(parts)


def differences_text(found: list[Difference], limited: list[str] | None = None) -> list[str]:
    """Lines only some targets ran, per version, grouped by file and by who ran them."""
    if not found:
        return []
    by_version: dict[str, list[Difference]] = defaultdict(list)
    for difference in found:
        by_version[difference.version].append(difference)
    out = []
    for version, items in by_version.items():
        out.append(
            f"Lines run on some targets only (Prosody {version}, the same scenarios on each): "
            f"{len(items)}"
        )
        groups: dict[tuple, list[int]] = defaultdict(list)
        for item in items:
            groups[(item.path, tuple(item.ran_on), tuple(item.not_on))].append(item.line)
        for shown, ((path, ran_on, not_on), lines) in enumerate(groups.items()):
            if shown == MAX_GROUPS_SHOWN:
                out.append(f"  ... {len(groups) - shown} more in index.html")
                break
            out.append(
                f"  {path}:{line_ranges(lines)}  run on {', '.join(ran_on)}, "
                f"not on {', '.join(not_on)}"
            )
    if limited:
        out.append(
            f"  ({len(limited)} scenario(s) run on some of these targets only, which "
            f"explains some: {', '.join(limited[:5])}{', ...' if len(limited) > 5 else ''})"
        )
    return out
