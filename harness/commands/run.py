"""`prosody-harness run`: play scenario files on one target or all of them."""

from __future__ import annotations

import argparse
import os
import sys

from harness.commands.prosody_options import add_prosody_options
from harness.coverage.cli import add_coverage_option, print_coverage, recorder_for
from harness.prosody_install import ProsodyInstallError, cache_dir, resolve_prosody, spec_problem
from harness.runner import Runner, RunOptions, load_all, resolve_target_names
from harness.runner.json_report import write_json
from harness.runner.junit import write_junit
from harness.runner.runner import default_workers
from harness.runner.select import KeywordError
from harness.runner.shard import ShardError, parse_shard, shard
from harness.runner.terminal import TerminalReport
from harness.runner.time_profile import profile_table
from harness.scenario import ScenarioError
from harness.targets import TARGETS
from harness.targets.run_scope import run_scope
from mock_backends import tls

DEFAULT_PATH = "scenarios"

EXAMPLES = """\
examples:
  prosody-harness run                              every scenario under scenarios/
  prosody-harness run scenarios/muc_http_auth      one folder
  prosody-harness run scenarios/core/message_echo.scs --target prosody
                                                   one file (YAML or scansion) on real Prosody
  prosody-harness run -k 'refresh and not presence' -x
                                                   by words in name, path or tags; stop at the
                                                   first failure
  prosody-harness run --target all                 every target; lists scenarios whose
                                                   verdicts differ between targets
  prosody-harness run --target prosody --junit junit.xml --json report.json
                                                   reports for CI (JUnit XML) and scripts (JSON)
  prosody-harness run --shard 2/4 --json part2.json
                                                   the 2nd of 4 parts, one per CI job;
                                                   `compare old.json part1.json,part2.json,...`
                                                   merges the parts

  regression-test a module upgrade (same scenarios, old modules against new):
  prosody-harness run scenarios/muc_http_auth --json old.json
  prosody-harness run scenarios/muc_http_auth --json new.json --modules ../upgrade/modules
  prosody-harness compare old.json new.json        names what passed before and fails now

  --modules DIR holds mod_NAME/mod_NAME.lua or mod_NAME.lua files; it replaces lua_modules/.

  which lines of the modules did the scenarios run (HTML, Cobertura XML in coverage/):
  prosody-harness run scenarios --target all --coverage

exit status:
  0  every scenario passed or was skipped; under --target all a target that is not
     available here (docker without an engine) is listed with the reason and skipped
  1  a scenario failed or errored (a target that did not start included), a file is
     invalid, verdicts differ between targets, -x stopped the run, or nothing was selected
  2  bad arguments: an unknown option, a path or --modules directory that does not exist,
     a bad -k expression, or a single --target whose implementation cannot load here
  130  interrupted (Ctrl-C, SIGTERM): it says so and leaves no process, container or
       temp folder behind

environment:
  PROSODY_HARNESS_PROSODY=0.12|13|PATH   default for --prosody
  PROSODY_HARNESS_IMAGE, PROSODY_HARNESS_DOCKER_NETWORK
                                         defaults for --image and --docker-network
  PROSODY_HARNESS_KEEP=1                 keep the run directory (config, data, log) of
                                         each prosody and docker server, for debugging
  PROSODY_HARNESS_CACHE=DIR              where Prosody 13, Prosody's scansion tests,
                                         the loaded scenarios (scenarios.pickle) and
                                         the mocks' test certificates (tls/) are kept
                                         (default: .cache/ in the project)
  PROSODY_HARNESS_LOAD_CACHE=0           load every scenario file anew

file format: docs/scenario-format.md; the JSON Schema for editors: harness/scenario/schema.json
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run scenario files (YAML or scansion .scs) against a target",
        description="Run scenario files or folders (default: scenarios/) on a target and report\n"
        "each verdict; a failure shows its step and line, expected against received, and\n"
        "the last lines of the Prosody log.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    add_prosody_options(parser)
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
        help="scenarios run in parallel (default: %(default)s, the CPU count); on the "
        "sandbox each worker is a forked process (threads with --coverage or -x); with 2 "
        "or more, a suite of 40 files or more is also read in two processes",
    )
    parser.add_argument(
        "--shard",
        metavar="K/N",
        help="run only the K-th of N deterministic parts of the suite (for CI jobs that "
        "split it; `compare` merges their --json reports)",
    )
    parser.add_argument(
        "--no-reuse",
        action="store_true",
        help="a fresh server for every scenario (slower; for isolating a suspected leak)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print where the time went: server starts, backends, accounts, each kind of "
        "step, log checks, teardown",
    )
    add_coverage_option(parser)
    parser.add_argument(
        "--no-colour", action="store_true", help="plain output (also: NO_COLOR set, not a terminal)"
    )
    parser.set_defaults(func=run)


def _prosody_named(spec: str | None) -> str:
    """ ", Prosody 13.0.1" for the header (the targets report what they really ran)."""
    try:
        return f", Prosody {resolve_prosody(spec).version}"
    except ProsodyInstallError as exc:
        return f" (Prosody: {exc})"


def run(args: argparse.Namespace) -> int:
    # Nothing the run starts or writes outlives it, however it ends (see run_scope).
    with run_scope():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    paths = args.paths or [DEFAULT_PATH]
    if args.modules and not os.path.isdir(args.modules):
        print(f"prosody-harness run: --modules {args.modules}: no such directory", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("prosody-harness run: --workers must be at least 1", file=sys.stderr)
        return 2
    problem = spec_problem(args.prosody)
    if problem:
        print(f"prosody-harness run: {problem}", file=sys.stderr)
        return 2
    try:
        loaded = load_all(paths, args.keyword, processes=args.workers)
        if args.shard:
            k, n = parse_shard(args.shard)
            loaded.scenarios = shard(loaded.scenarios, k, n)
    except (ScenarioError, KeywordError, ShardError) as exc:
        print(f"prosody-harness run: {exc}", file=sys.stderr)
        if not args.paths and not os.path.exists(DEFAULT_PATH):
            print(
                f"(with no PATH it runs ./{DEFAULT_PATH}: run it from the project's folder, "
                "or name scenario files or folders)",
                file=sys.stderr,
            )
        return 2
    targets = resolve_target_names(args.target)
    # HTTPS mocks' authority and certificates, kept for the next run: making them costs
    # each worker process a tenth of a second (cryptography's import).
    tls.keep_in(cache_dir() / "tls")
    total = len(loaded.invalid) + len(loaded.scenarios) * len(targets)
    terminal = TerminalReport(colour=False if args.no_colour else None, total=total)
    print(
        f"prosody-harness: {len(loaded.scenarios)} scenario(s) on {', '.join(targets)}"
        + _prosody_named(args.prosody)
        + (f", {len(loaded.invalid)} invalid file(s)" if loaded.invalid else "")
    )
    options = RunOptions(
        targets,
        os.path.abspath(args.modules) if args.modules else None,
        args.workers,
        prosody=args.prosody,
        image=args.image,
        docker_network=args.docker_network,
        reuse=not args.no_reuse,
        keyword=args.keyword,
        stop_on_failure=args.exitfirst,
        coverage=recorder_for(args, args.modules),
    )
    report = Runner(options, terminal.progress).run(loaded)
    terminal.summary(report)
    if args.profile:
        print("\n" + profile_table(report.results, report.seconds, args.workers))
    print_coverage(args, options.coverage, report.results)
    if args.junit:
        write_junit(report, args.junit)
    if args.json:
        write_json(report, args.json)
    if args.target and args.target != "all" and report.unavailable:
        return 2
    return 0 if report.ok else 1
