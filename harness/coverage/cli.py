"""`prosody-harness run --coverage [DIR]`: the option, and what the run does with it."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from harness.coverage.recorder import CoverageRecorder
from harness.coverage.report import COUNTS_JSON, DEFAULT_DIRECTORY, Ran, report_run

HELP = (
    "count the lines run of every Lua file loaded from the modules folder, on every "
    "target; print a summary per file and write an HTML report, Cobertura XML and the "
    f"counts into DIR (default: {DEFAULT_DIRECTORY}/). A later run into the same DIR on "
    "another Prosody version adds its figures to the report"
)


def add_coverage_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--coverage",
        nargs="?",
        const=DEFAULT_DIRECTORY,
        default=None,
        metavar="DIR",
        help=HELP,
    )


def recorder_for(args: argparse.Namespace, modules_dir: str | None) -> CoverageRecorder | None:
    """A recorder when --coverage was given; exits 2 when DIR looks like scenarios
    (`run --coverage scenarios/x` takes scenarios/x for DIR)."""
    directory = getattr(args, "coverage", None)
    if not directory:
        return None
    if os.path.isfile(directory) or (
        os.path.isdir(directory)
        and not os.path.exists(os.path.join(directory, COUNTS_JSON))
        and _holds_scenarios(directory)
    ):
        print(
            f"prosody-harness run: --coverage {directory}: that is a scenario path, not a "
            "report folder; put --coverage after the paths, or write --coverage=DIR",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return CoverageRecorder(modules_dir)


def _holds_scenarios(directory: str) -> bool:
    for _, _, names in os.walk(directory):
        if any(name.endswith((".yaml", ".yml", ".scs")) for name in names):
            return True
    return False


def print_coverage(
    args: argparse.Namespace, recorder: CoverageRecorder | None, results: list[Any]
) -> None:
    """After the run: the reports into --coverage DIR, the summary to the terminal."""
    if recorder is None:
        return
    ran = [
        Ran(r.target, r.prosody, r.status == "skipped", r.file) for r in results if r.target != "-"
    ]
    try:
        _, text = report_run(recorder, ran, args.coverage)
    except OSError as exc:
        print(f"prosody-harness run: --coverage {args.coverage}: {exc}", file=sys.stderr)
        return
    print("\n" + text)
