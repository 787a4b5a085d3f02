"""`prosody-harness`: the command-line entry point.

Each subcommand lives in its own module under harness.commands and exposes
`register(subparsers)`, which adds its parser and sets `func` (args -> exit status).
Only the command named on the command line is imported (with everything it imports:
some pull in a third of a second of libraries the others never use); the overview
(`--help`, no command, an unknown one) imports them all, to list them.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys

from harness import __version__

COMMANDS = ("run", "compare", "mock", "check", "smoke", "image")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser for every command, or only for `only` (a name in COMMANDS)."""
    parser = argparse.ArgumentParser(
        prog="prosody-harness",
        description=(
            "Conformance scenarios and mock backends for Prosody modules that talk HTTP "
            "(mod_http_roster_admin, mod_muc_http_auth, mod_rest, mod_admin_rest)."
        ),
        epilog="Run 'prosody-harness COMMAND --help' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS if only is None else (only,):
        try:
            module = importlib.import_module(f"harness.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"harness.commands.{name}":
                raise
            continue  # command not built yet
        module.register(sub)
    return parser


def _command_named(argv: list[str]) -> str | None:
    """The command argv names, if it is one (the first word that is not an option)."""
    first = next((word for word in argv if not word.startswith("-")), None)
    return first if first in COMMANDS else None


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the program itself (tests pass their argv): it ends on return
        try:
            return main(sys.argv[1:])
        finally:
            # Python's last collection would go over everything the run made (a sixth of
            # a second after this project's suite) to free what the exit frees anyway.
            # Objects outside reference cycles are still freed, and files closed.
            gc.freeze()
    try:
        # The command's imports are most of a start: Ctrl-C may well come during them.
        parser = build_parser(_command_named(argv))
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): say nothing more, and let exit not retry.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
