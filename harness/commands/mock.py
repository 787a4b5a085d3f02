"""`prosody-harness mock KIND`: run one mock backend standalone and print its journal live."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from typing import Any

from mock_backends import start_backend
from mock_backends.datafile import load_data_file

KINDS = {"roster": "roster", "muc-auth": "muc_auth", "rest-callback": "rest_callback"}

#: Request bodies longer than this are shortened in the live listing (not in the journal).
BODY_PREVIEW_CHARS = 300


EXAMPLES = """\
examples:
  prosody-harness mock roster --port 8081 --data rosters.yaml
      the roster web app; Prosody's http_roster_url = "http://127.0.0.1:8081/contacts/%s"
      (rosters.yaml: `rosters: {john: {"aaron@localhost": {name: Aaron}}}`)
  curl -X POST localhost:8081/_mock/befriend -H 'Content-Type: application/json' \\
       -d '{"users": ["john", "kate"], "refresh_url": "http://127.0.0.1:5280/roster_admin/refresh"}'
      make two users contacts and have Prosody re-fetch both rosters
  prosody-harness mock muc-auth --port 8082
      muc_http_auth_url = "http://127.0.0.1:8082/"; every join is allowed until a rule says
  curl -X POST localhost:8082/_mock/rules -H 'Content-Type: application/json' \\
       -d '{"room": "teaparty", "allowed": false, "error": "members only"}'
  prosody-harness mock rest-callback --port 8083 --json
      rest_callback_url = "http://127.0.0.1:8083/"; each delivery as one JSON line
  curl localhost:8083/_mock/journal
      what it received, as JSON

more: mock_backends/README.md; every route: mock_backends/openapi.yaml
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mock",
        help="run a mock backend (roster web app, MUC auth endpoint, REST callback target)",
        description=(
            "Serve one mock backend until interrupted, printing every request it receives. "
            "Its state can be changed at run time through the control API under /_mock/ "
            "(see mock_backends/openapi.yaml)."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=sorted(KINDS), help="which service to play")
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port (default 0: a free port, printed at start)"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--data",
        metavar="FILE",
        help="initial state, JSON or YAML (the keys of a scenario backend)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--json", action="store_true", help="print each journal entry as one JSON line"
    )
    output.add_argument("--quiet", action="store_true", help="print only the listening line")
    parser.set_defaults(func=run_mock)


def format_entry(entry: dict[str, Any]) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(entry["time"]))
    millis = int(entry["time"] % 1 * 1000)
    target = entry["raw_path"]
    if entry["query"]:
        target += "?" + "&".join(f"{key}={value}" for key, value in entry["query"].items())
    status = "dropped" if entry.get("status") is None else str(entry["status"])
    line = f"{stamp}.{millis:03d} {entry['method']} {target} -> {status}"
    if "fault" in entry:
        line += f"  [fault {json.dumps(entry['fault'])}]"
    body = entry["body"]
    if body:
        preview = body if len(body) <= BODY_PREVIEW_CHARS else body[:BODY_PREVIEW_CHARS] + "..."
        line += "\n    " + preview.replace("\n", "\n    ")
    return line


def run_mock(args: argparse.Namespace) -> int:
    kind = KINDS[args.kind]
    try:
        config = load_data_file(args.data) if args.data else {}
        backend = start_backend(kind, config, host=args.host, port=args.port)
    except ValueError as exc:
        print(f"prosody-harness mock: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"prosody-harness mock: cannot listen on {args.host}:{args.port}: "
            f"{exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1

    print_lock = threading.Lock()

    def show(entry: dict[str, Any]) -> None:
        text = json.dumps(entry, sort_keys=True) if args.json else format_entry(entry)
        with print_lock:
            print(text, flush=True)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with print_lock:  # the listening line comes first, even if a request is already there
        if not args.quiet:
            backend.on_request(show)
        print(
            f"{args.kind} mock listening on {backend.url} (control API {backend.url}/_mock/)",
            flush=True,
        )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        backend.stop()
    return 0
