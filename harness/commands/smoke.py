"""`prosody-harness smoke`: boot a real Prosody, log a client in, round-trip a ping.

The quickest proof that this machine can run the prosody target: every stage is timed,
and the first failure is reported with its reason (and the server log's tail).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time

from harness import stanza
from harness.commands.prosody_options import add_prosody_options
from harness.profile import Profile
from harness.target import TargetError

USER = "smoke"
HOST = "localhost"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "smoke",
        help="boot a local prosody, log a client in and ping the server",
        description="Boot a local prosody with a generated config, create a user, log a "
        "client in, round-trip an XMPP ping and an HTTP request, and print how long each "
        "took. Exit status 0 when all of it worked.",
    )
    add_prosody_options(parser, docker=False)
    parser.add_argument(
        "--modules",
        metavar="DIR",
        help="directory of Prosody modules for plugin_paths (default: lua_modules/)",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for readiness (default 10)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Here, not at the top: every command's parser is built at each start of the CLI, and
    # this brings slixmpp and its asyncio (a sixth of a second) that only smoke needs.
    from harness.targets.prosody import ProsodyTarget  # noqa: PLC0415

    target = ProsodyTarget(
        Profile(), modules_dir=args.modules, prosody=args.prosody, ready_timeout=args.timeout
    )
    password = secrets.token_hex(8)
    try:
        started = time.monotonic()
        target.start()
        _report(
            "prosody ready",
            started,
            f"Prosody {target.version}, pid {target.pid}, c2s :{target.c2s_port}, "
            f"http :{target.http_port}",
        )

        started = time.monotonic()
        target.create_user(USER, HOST, password)
        _report("user created", started)

        started = time.monotonic()
        client = target.connect(f"{USER}@{HOST}", password)
        _report("client logged in", started, client.jid)

        started = time.monotonic()
        pong = client.query(f'<iq type="get" to="{HOST}"><ping xmlns="urn:xmpp:ping"/></iq>')
        if pong.get("type") != "result":
            raise TargetError(f"ping answered with an error: {stanza.tostring(pong)}")
        _report("ping answered", started)

        started = time.monotonic()
        response = target.http("GET", "/")
        _report("HTTP answered", started, f"status {response.status}")

        problems = target.error_lines()
        if problems:
            raise TargetError("the log shows errors:\n" + "\n".join(line.raw for line in problems))
        started = time.monotonic()
        target.stop()
        _report("prosody stopped", started)
    except TargetError as exc:
        print(f"smoke: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        target.stop()
    print("smoke: OK")
    return 0


def _report(what: str, started: float, detail: str = "") -> None:
    milliseconds = (time.monotonic() - started) * 1000
    print(f"  {what:<18} {milliseconds:8.1f} ms  {detail}".rstrip())
