"""`prosody-harness compare OLD.json NEW.json`: which verdicts changed between two runs."""

from __future__ import annotations

import argparse
import sys
import textwrap

from harness.runner.verdict_changes import (
    CHANGED,
    FIXED,
    GONE,
    NEW,
    REGRESSED,
    Comparison,
    ReportError,
    VerdictChange,
    compare,
    read_reports,
)

EXAMPLES = """\
examples:
  # regression-test a module upgrade: the same scenarios, old modules then new
  prosody-harness run scenarios/muc_http_auth --target prosody --json old.json
  prosody-harness run scenarios/muc_http_auth --target prosody --json new.json \\
      --modules ../new/lua_modules
  prosody-harness compare old.json new.json

  # a suite split into shards (run --shard K/N --json partK.json), compared as a whole
  prosody-harness compare baseline.json part1.json,part2.json,part3.json
  prosody-harness compare baseline/ parts/        folders of *.json reports

exit status:
  0  no scenario that passed in OLD fails in NEW
  1  at least one regressed (passed, now fails or errors)
  2  a file is missing or is not a 'run --json' report
"""

HEADINGS = {
    REGRESSED: "REGRESSED (passed, now fails)",
    FIXED: "FIXED (failed, now passes)",
    CHANGED: "CHANGED (to or from skipped, or failing at another step)",
    NEW: "NEW (only in the new report)",
    GONE: "GONE (only in the old report)",
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="show the scenarios whose verdict changed between two 'run --json' reports",
        description="Compare two JSON reports written by 'prosody-harness run --json',\n"
        "matching results by scenario file, name and target, and list the scenarios\n"
        "that regressed, were fixed, changed otherwise, appeared or disappeared.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "old",
        metavar="OLD.json",
        help="report of the baseline run (a comma-separated list or a folder of reports: "
        "the shards of one run, merged)",
    )
    parser.add_argument("new", metavar="NEW.json", help="report of the run to judge (same forms)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        old, new = read_reports(args.old), read_reports(args.new)
    except ReportError as exc:
        print(f"prosody-harness compare: {exc}", file=sys.stderr)
        return 2
    comparison = compare(old, new)
    print(f"old: {args.old} ({_made_of(old)})\nnew: {args.new} ({_made_of(new)})")
    for warning in provenance_warnings(old, new):
        print(f"note: {warning}")
    print_comparison(comparison)
    return 1 if comparison.regressed else 0


def print_comparison(comparison: Comparison) -> None:
    for kind, heading in HEADINGS.items():
        changes = comparison.of_kind(kind)
        if changes:
            print(f"\n{heading}: {len(changes)}")
            for change in changes:
                print(_describe(change))
    counts = [f"{len(comparison.of_kind(k))} {k}" for k in HEADINGS if comparison.of_kind(k)]
    print(f"\n{', '.join(counts) or 'no verdict changed'}; {comparison.unchanged} unchanged")


def _describe(change: VerdictChange) -> str:
    result = change.new or change.old or {}
    where = f"{result.get('file')}:{result.get('line')}"
    lines = [
        f"  {change.before:>7} -> {change.after:<7} [{change.target}] {where}: {result.get('name')}"
    ]
    if change.new and change.new["status"] not in ("passed", "skipped"):
        failure = change.new
        if failure.get("step"):
            line = failure.get("step_line")
            lines.append(f"      at line {line}: {_shorten(failure['step'])}")
        if failure.get("message"):
            lines.append(f"      {_shorten(failure['message'])}")
    return "\n".join(lines)


def _shorten(text: str) -> str:
    return textwrap.shorten(" ".join(text.split()), 150, placeholder=" ...")


def _made_of(report: dict) -> str:
    modules = f"modules {report.get('modules_dir') or 'lua_modules/'}"
    if report.get("modules_digest"):
        modules += f" [{report['modules_digest']}]"
    versions = sorted({info.get("prosody", "?") for info in (report.get("targets") or {}).values()})
    return modules + (f", Prosody {'/'.join(versions)}" if versions else "")


def provenance_warnings(old: dict, new: dict) -> list[str]:
    """What else changed between the runs besides the verdicts: the Prosody version of a
    target, the modules, or both (then a verdict change has two possible causes)."""
    notes = []
    old_targets, new_targets = old.get("targets") or {}, new.get("targets") or {}
    version_changed = False
    for target in sorted(set(old_targets) & set(new_targets)):
        before = old_targets[target].get("prosody")
        after = new_targets[target].get("prosody")
        if before != after:
            version_changed = True
            notes.append(f"the {target} target ran Prosody {before}, now {after}")
    modules_changed = old.get("modules_digest") != new.get("modules_digest") or old.get(
        "modules_dir"
    ) != new.get("modules_dir")
    if version_changed and modules_changed:
        notes.append(
            "both the Prosody version and the modules differ between the reports: a changed "
            "verdict may come from either; compare one change at a time to tell them apart"
        )
    return notes
