"""`prosody-harness run`: play scenario files on one target or all of them."""

from __future__ import annotations

import argparse
import os
import sys

from harness.runner import Runner, RunOptions, load_all, resolve_target_names
from harness.runner.json_report import write_json
from harness.runner.junit import write_junit
from harness.runner.runner import default_workers
from harness.runner.select import KeywordError
from harness.runner.terminal import TerminalReport
from harness.scenario import ScenarioError
from harness.targets import TARGETS

DEFAULT_PATH = "scenarios"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run scenario files (YAML or scansion .scs) against a target",
        description="Run scenario files or folders (default: scenarios/) and report. The exit "
        "status is 0 only when every scenario passed or was skipped.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help=f"scenario files or folders (default: {DEFAULT_PATH}/)",
    )
    parser.add_argument(
        "--target",
        choices=[*TARGETS, "all"],
        default=None,
        help="where to run: the in-process sandbox (default when available), "
        "a local prosody, docker, or all of them comparing verdicts",
    )
    parser.add_argument(
        "--modules",
        metavar="DIR",
        help="use this directory of Prosody modules instead of lua_modules/",
    )
    parser.add_argument("--junit", metavar="FILE", help="also write JUnit XML here")
    parser.add_argument("--json", metavar="FILE", help="also write a JSON report here")
    parser.add_argument(
        "-k",
        dest="keyword",
        metavar="EXPR",
        help="only scenarios whose name, path or tags match, e.g. 'roster and not refresh'",
    )
    parser.add_argument(
        "-x", "--exitfirst", action="store_true", help="stop at the first failing scenario"
    )
    parser.add_argument(
        "-j",
        "--workers",
        type=int,
        default=default_workers(),
        metavar="N",
        help="scenarios run in parallel (default: %(default)s, the CPU count)",
    )
    parser.add_argument(
        "--no-reuse",
        action="store_true",
        help="a fresh server for every scenario (slower; for isolating a suspected leak)",
    )
    parser.add_argument("--no-colour", action="store_true", help="plain output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    paths = args.paths or [DEFAULT_PATH]
    if args.modules and not os.path.isdir(args.modules):
        print(f"prosody-harness run: --modules {args.modules}: no such directory", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("prosody-harness run: --workers must be at least 1", file=sys.stderr)
        return 2
    try:
        loaded = load_all(paths, args.keyword)
    except (ScenarioError, KeywordError) as exc:
        print(f"prosody-harness run: {exc}", file=sys.stderr)
        return 2
    targets = resolve_target_names(args.target)
    total = len(loaded.invalid) + len(loaded.scenarios) * len(targets)
    terminal = TerminalReport(colour=False if args.no_colour else None, total=total)
    print(
        f"prosody-harness: {len(loaded.scenarios)} scenario(s) on {', '.join(targets)}"
        + (f", {len(loaded.invalid)} invalid file(s)" if loaded.invalid else "")
    )
    options = RunOptions(
        targets,
        os.path.abspath(args.modules) if args.modules else None,
        args.workers,
        not args.no_reuse,
        args.keyword,
        args.exitfirst,
    )
    report = Runner(options, terminal.progress).run(loaded)
    terminal.summary(report)
    if args.junit:
        write_junit(report, args.junit)
    if args.json:
        write_json(report, args.json)
    if args.target and args.target != "all" and report.unavailable:
        return 2
    return 0 if report.ok else 1
