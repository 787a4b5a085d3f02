"""Soak: mixed traffic on one Prosody for a while, with backends failing at random.

    .venv/bin/python bench/soak.py --prosody 0.12 --minutes 10      (make soak: both versions)

One Prosody of the version asked for carries every module that talks HTTP: the roster
fetch and refresh API (mod_http_roster_admin), MUC auth (mod_muc_http_auth), mod_rest (on
the host for sends, on a component for webhook deliveries) and mod_admin_rest, with their
mock backends. Worker threads log users in and out, refresh rosters, join and leave rooms,
send messages over REST, over XMPP and through the admin API, call the admin API and send
stanzas to the webhook, while a fault injector breaks a random backend every few seconds
(latency, 5xx, dropped, hung and reset connections, bad bodies, redirects) for a few
requests.

At the end it checks, and prints:
* no message Prosody accepted was lost (every REST 202, admin 200 and XMPP message reached
  its recipient; every stanza for the webhook reached it or bounced back to its sender);
* no stuck session: every request and iq got an answer within its bound, and once every
  client has gone, no user is connected any more;
* Prosody's RSS after warm-up (the first half of the run) against the end: the growth
  and the slope; flat means less than 10 % growth. Measured on both versions over 10
  minutes, RSS climbs for about five minutes and then stays level within 0.1 MB, so a
  shorter warm-up would judge that climb rather than a leak;
* nothing at error level and no traceback in Prosody's log.
Exit status 0 when all hold. With PROSODY_HARNESS_FIGURES set, the figures are recorded
for the README's table (harness.reliability.figures).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.reliability import figures  # noqa: E402
from harness.reliability.soak_rig import (  # noqa: E402
    ADMIN_PASSWORD,
    HOST,
    FaultInjector,
    RssSampler,
    start_rig,
)
from harness.reliability.soak_traffic import Traffic, _auth  # noqa: E402

FLAT_PERCENT = 10.0


def connected_users(rig) -> int | None:
    answer = rig.target.http(
        "GET", "/admin_rest/users/count", _auth(f"admin@{HOST}", ADMIN_PASSWORD), None, 10
    )
    try:
        return json.loads(answer.body)["result"]["count"]
    except (ValueError, KeyError, TypeError):
        return None


def soak(version: str, minutes: float, seed: int) -> dict:
    rig = start_rig(version)
    try:
        sampler = RssSampler(rig.target.pid, every=max(1.0, minutes * 60 / 120))
        traffic = Traffic(rig, seed)
        injector = FaultInjector(rig, seed)
        started = time.monotonic()
        traffic.start()
        injector.start()
        deadline = started + minutes * 60
        while time.monotonic() < deadline:
            time.sleep(min(10.0, max(0.0, deadline - time.monotonic())))
            counts = traffic.ledger.counts
            print(
                f"  {time.monotonic() - started:6.0f} s: {sum(counts.values())} operations, "
                f"{len(traffic.ledger.sent)} messages accepted, "
                f"RSS {sampler.samples[-1][1] / 1024:.1f} MB",
                flush=True,
            )
        injector.stop()
        traffic.stop()
        traffic.drain()
        sampler.stop()
        traffic.disconnect_all()
        time.sleep(2)
        still_connected = connected_users(rig)
        errors = [line.raw for line in rig.target.log() if line.is_error]
        ledger = traffic.ledger
        lost = sorted(set(ledger.sent) - ledger.received)
        # What reached the webhook: the journal keeps every POST (faulted ones too).
        journal_ids = {
            found[1]
            for entry in rig.webhook.journal()
            if (found := re.search(r'\bid=["\']([^"\']+)', entry.get("body") or ""))
        }
        journal_ids |= {stanza.get("id") for stanza in rig.webhook.received_stanzas()}
        webhook_lost = sorted(ledger.webhook_sent - journal_ids - ledger.webhook_bounced)
        rss = sampler.summary(warm_up=minutes * 60 / 2)
        return {
            "version": rig.target.version,
            "minutes": round((time.monotonic() - started) / 60, 1),
            "seed": seed,
            "operations": dict(sorted(ledger.counts.items())),
            "faults_injected": injector.injected,
            "messages_sent": len(ledger.sent),
            "messages_received": len(ledger.received),
            "lost": len(lost),
            "lost_examples": lost[:10],
            "webhook_sent": len(ledger.webhook_sent),
            "webhook_bounced": len(ledger.webhook_bounced & ledger.webhook_sent),
            "webhook_lost": len(webhook_lost),
            "stuck": ledger.stuck[:20],
            "stuck_count": len(ledger.stuck),
            "connected_after": still_connected,
            "rss_mb": {key: round(value, 2) for key, value in rss.items()},
            "rss_flat": rss["growth_percent"] < FLAT_PERCENT,
            "log_errors": len(errors),
            "log_error_examples": errors[:5],
        }
    finally:
        rig.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prosody", default="0.12", help="0.12, 13 or a launcher path")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    print(f"soak: Prosody {args.prosody}, {args.minutes:g} min, seed {args.seed}", flush=True)
    result = soak(args.prosody, args.minutes, args.seed)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    series = "13" if result["version"].startswith("13") else "0.12"
    figures.record("soak", series, result)
    ok = (
        result["lost"] == 0
        and result["webhook_lost"] == 0
        and result["stuck_count"] == 0
        and result["connected_after"] == 0
        and result["rss_flat"]
        and result["log_errors"] == 0
    )
    print(
        f"soak {'passed' if ok else 'FAILED'}: {result['messages_sent']} messages accepted, "
        f"{result['lost']} lost; {result['stuck_count']} stuck; RSS {result['rss_mb']['warm']}"
        f" -> {result['rss_mb']['end']} MB ({result['rss_mb']['growth_percent']:+.1f} %); "
        f"{result['log_errors']} log error(s)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
