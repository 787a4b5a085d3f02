"""`prosody-harness check roster|muc-auth|webhook URL`: is my own web service speaking the
protocol our modules implement? The probes and the judgments live in harness.contract."""

from __future__ import annotations

import argparse
import sys

from harness.contract import KINDS, CheckOptions, UsageError, run_check
from harness.contract.findings import EXIT_UNUSABLE
from harness.contract.options import MUC_AUTH, ROSTER, WEBHOOK, parse_header
from harness.contract.report import to_json, to_text

DESCRIPTION = """\
Point the harness at your own running service instead of a mock, and check what it answers
against the protocol of the module that calls it:

  roster    the web app mod_http_roster_admin fetches rosters from (http_roster_url)
  muc-auth  the service mod_muc_http_auth asks before a join (muc_http_auth_url)
  webhook   the webhook mod_rest delivers stanzas to (rest_callback_url)

It sends what the module sends (same method, headers, URL encoding; no redirects followed,
nothing compressed) and says, for every answer, what the module would do with it: status
codes, content types, JSON shapes, time against the module's timeout, and what happens with
awkward input (percent-encoded and non-ASCII names, unknown users, odd JIDs).

Findings: VIOLATION (the module would fail or misbehave), WARNING (works, but fragile or not
what you meant), note (worth knowing). roster and muc-auth probes are GETs only; a webhook
gets stanzas only with --allow-writes (otherwise one OPTIONS request)."""

EXAMPLES = """\
examples:
  # the roster app, with a user it has contacts for (URL exactly as http_roster_url)
  prosody-harness check roster 'http://127.0.0.1:8081/contacts/%s' --user john

  # the MUC authorization service, as a member of a room, with the configured header
  prosody-harness check muc-auth https://app.example.net/xmpp/can-join \\
      --user romeo@example.net --room teaparty@rooms.example.net \\
      --header 'Authorization: Bearer 5f2b...' --ca-file /etc/ssl/my-ca.pem

  # a webhook, delivering 6 test stanzas as JSON (ids start with prosody-harness-check-)
  prosody-harness check webhook http://127.0.0.1:8083/stanzas --allow-writes \\
      --content-type json --to bot.example.com

  # in the app's CI: machine-readable, and warnings fail too
  prosody-harness check roster "$APP/contacts/%s" --user ci-user --json --strict > check.json

  # a module timeout other than the default (http_roster_timeout = 2)
  prosody-harness check roster 'http://app.internal/contacts/%s' --timeout 2

exit status:
  0  no violation (warnings allowed, unless --strict)
  1  at least one violation
  2  bad usage, or the service could not be reached at all
"""

KIND_OPTIONS = {
    "user": (ROSTER, MUC_AUTH),
    "domain": (ROSTER,),
    "room": (MUC_AUTH,),
    "nickname": (MUC_AUTH,),
    "allow_writes": (WEBHOOK,),
    "content_type": (WEBHOOK,),
    "sender": (WEBHOOK,),
    "recipient": (WEBHOOK,),
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check your own roster app, MUC auth service or webhook against the protocol",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=KINDS, help="which kind of service URL is")
    parser.add_argument(
        "url",
        metavar="URL",
        help="the URL the module is configured with (roster: with %%s where the username goes)",
    )
    common = parser.add_argument_group("all kinds")
    common.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="the module's timeout to judge against (default: the module's "
        "default: roster 5, muc-auth 5, webhook 10)",
    )
    common.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="send this header too (repeatable); the check tells which ones "
        "the module can really send",
    )
    common.add_argument(
        "--insecure",
        action="store_true",
        help="https: go on when the certificate does not verify (muc-auth: as "
        "muc_http_auth_insecure = true)",
    )
    common.add_argument(
        "--ca-file",
        metavar="FILE",
        help="https: the CA certificates Prosody trusts (its ssl.cafile)",
    )
    common.add_argument("--json", action="store_true", help="print the report as JSON")
    common.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    roster = parser.add_argument_group("roster and muc-auth")
    roster.add_argument(
        "--user",
        help="roster: a username the app has contacts for; "
        "muc-auth: the bare JID of a user to ask about",
    )
    roster.add_argument(
        "--domain",
        metavar="HOST",
        help="roster: Prosody's VirtualHost (spots users listed as their own contact)",
    )
    muc = parser.add_argument_group("muc-auth")
    muc.add_argument("--room", metavar="JID", help="the room's bare JID")
    muc.add_argument("--nickname", help="the nickname to ask with (default: the user's node)")
    hook = parser.add_argument_group("webhook")
    hook.add_argument(
        "--allow-writes",
        action="store_true",
        help="deliver test stanzas (POSTs the webhook may act on)",
    )
    hook.add_argument(
        "--content-type",
        choices=("xml", "json"),
        default=None,
        help="as rest_callback_content_type (default xml)",
    )
    hook.add_argument(
        "--from",
        dest="sender",
        metavar="JID",
        help="the test stanzas' sender (default prosody-harness-check@example.com/check)",
    )
    hook.add_argument(
        "--to",
        dest="recipient",
        metavar="JID",
        help="the address the webhook serves (default bot.example.com)",
    )
    parser.set_defaults(func=run, _parser=parser)


def options_from(args: argparse.Namespace) -> CheckOptions:
    for dest, kinds in KIND_OPTIONS.items():
        value = getattr(args, dest)
        if value not in (None, False) and args.kind not in kinds:
            flag = {"sender": "--from", "recipient": "--to"}.get(
                dest, "--" + dest.replace("_", "-")
            )
            raise UsageError(f"{flag} is for {' and '.join(kinds)}, not {args.kind}")
    headers: dict[str, str] = {}
    for text in args.header:
        name, value = parse_header(text)
        headers[name] = value
    return CheckOptions(
        kind=args.kind,
        url=args.url,
        timeout=args.timeout,
        headers=headers,
        insecure=args.insecure,
        ca_file=args.ca_file,
        strict=args.strict,
        user=args.user,
        domain=args.domain,
        room=args.room,
        nickname=args.nickname,
        allow_writes=args.allow_writes,
        content_type=args.content_type or "xml",
        sender=args.sender,
        recipient=args.recipient,
    )


def run(args: argparse.Namespace) -> int:
    try:
        options = options_from(args)
        report = run_check(options)
    except UsageError as exc:
        print(f"prosody-harness check: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.json:
        sys.stdout.write(to_json(report, options.strict) + "\n")
    else:
        sys.stdout.write(to_text(report, options.strict))
    if report.unreachable and args.json:
        print(f"prosody-harness check: {report.unreachable}", file=sys.stderr)
    return report.exit_status(options.strict)
