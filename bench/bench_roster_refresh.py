"""Time one roster refresh POST naming many users, some online, on real Prosody.

The mock roster app holds a roster for every user; the online users are logged in with
real XMPP clients that asked for their roster and sent presence, so each refresh fetches
their rosters over HTTP, pushes the change and sends presence. Every round changes one
contact in every roster, so every online user really gets a push.

    .venv/bin/python bench/bench_roster_refresh.py                 # 1,000 users, 100 online
    .venv/bin/python bench/bench_roster_refresh.py --concurrency 1 8 32
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.profile import Profile, VirtualHostProfile  # noqa: E402
from harness.targets.prosody import ProsodyTarget  # noqa: E402
from mock_backends.roster import RosterBackend  # noqa: E402

HOST = "localhost"
PASSWORD = "bench"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000, help="usernames in the POST")
    parser.add_argument("--online", type=int, default=100, help="of which logged in")
    parser.add_argument("--contacts", type=int, default=20, help="contacts per roster")
    parser.add_argument("--rounds", type=int, default=5, help="timed refreshes per setting")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8],
                        help="http_roster_concurrency values to compare")
    args = parser.parse_args()
    if not 0 < args.online <= args.users or args.contacts >= args.users:
        parser.error("need 0 < online <= users and contacts < users")
    return args


def roster_of(index: int, users: int, contacts: int, round_number: int) -> dict:
    """`contacts` neighbours of user `index`, plus one contact that changes every round."""
    roster = {f"user{(index + k) % users}@{HOST}": {"name": f"User {(index + k) % users}",
                                                      "groups": ["Bench"]}
              for k in range(1, contacts)}
    roster[f"extra{round_number}@{HOST}"] = {"name": f"Extra {round_number}"}
    return roster


def serve_roster_app(pipe: Connection) -> None:
    """Child process: the mock roster app, until the parent says stop (or goes away)."""
    with RosterBackend({"rosters": {}}) as backend:
        pipe.send(backend.url)
        try:
            pipe.recv()
        except EOFError:
            pass


@contextmanager
def roster_app_process() -> Iterator[str]:
    """The mock roster app in its own process (own GIL), as a real web app would be;
    yields its base URL and is driven through its control API."""
    parent_end, child_end = multiprocessing.Pipe()
    child = multiprocessing.Process(target=serve_roster_app, args=(child_end,), daemon=True)
    child.start()
    try:
        if not parent_end.poll(10):
            raise SystemExit("the mock roster app did not start within 10 s")
        yield parent_end.recv()
    finally:
        parent_end.send("stop")
        child.join(5)
        if child.is_alive():
            child.kill()


def set_all_rosters(control: requests.Session, url: str, args: argparse.Namespace,
                    round_number: int) -> None:
    for index in range(args.users):
        roster = roster_of(index, args.users, args.contacts, round_number)
        control.put(f"{url}/_mock/rosters/user{index}", json=roster, timeout=10).raise_for_status()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_one(args: argparse.Namespace, concurrency: int) -> tuple[list[float], list[float]]:
    control = requests.Session()
    with roster_app_process() as url:
        set_all_rosters(control, url, args, 0)
        host = VirtualHostProfile(
            HOST,
            modules_enabled=["http_roster_admin", "block_subscriptions"],
            modules_disabled=["roster"],
            options={"storage": {"roster": "memory"},
                     "http_roster_url": f"{url}/contacts/%s",
                     "http_roster_concurrency": concurrency},
        )
        with ProsodyTarget(Profile(hosts={HOST: host})) as server:
            clients = []
            for index in range(args.online):
                server.create_user(f"user{index}", HOST, PASSWORD)
                client = server.connect(f"user{index}@{HOST}", PASSWORD)
                client.send('<iq type="get" id="roster"><query xmlns="jabber:iq:roster"/></iq>')
                client.receive(lambda el: el.get("id") == "roster", timeout=10)
                client.send("<presence/>")
                clients.append(client)
            body = json.dumps([f"user{index}" for index in range(args.users)]).encode()
            seconds: list[float] = []
            prosody_cpu: list[float] = []
            for round_number in range(1, args.rounds + 1):
                set_all_rosters(control, url, args, round_number)
                control.delete(f"{url}/_mock/journal", timeout=10).raise_for_status()
                cpu_before = cpu_seconds(server.pid)
                started = time.perf_counter()
                response = server.http("POST", "/roster_admin/refresh", body=body, timeout=60)
                seconds.append(time.perf_counter() - started)
                prosody_cpu.append(cpu_seconds(server.pid) - cpu_before)
                answer = response.json()
                if response.status != 200 or answer.get("updated") != args.users:
                    raise SystemExit(f"refresh failed: {response.status} {answer}")
                fetches = len(control.get(f"{url}/_mock/journal", timeout=10).json())
                if fetches != args.online:
                    raise SystemExit(f"expected {args.online} roster fetches, saw {fetches}")
                added = f".//{{jabber:iq:roster}}item[@jid='extra{round_number}@{HOST}']"
                for client in clients:  # every online user got the push
                    client.receive(lambda el, path=added: el.find(path) is not None, timeout=10)
            errors = server.error_lines()
            if errors:
                raise SystemExit("Prosody logged errors:\n" + "\n".join(e.raw for e in errors))
            for client in clients:
                client.disconnect()
    return seconds, prosody_cpu


def main() -> None:
    args = parse_args()
    print(f"refresh POST naming {args.users} users, {args.online} online, "
          f"{args.contacts} contacts each, {args.rounds} rounds (real Prosody, mock roster app)")
    for concurrency in args.concurrency:
        seconds, prosody_cpu = bench_one(args, concurrency)
        ms = [s * 1000 for s in seconds]
        print(f"  http_roster_concurrency={concurrency:<3} median {statistics.median(ms):7.1f} ms"
              f"   min {min(ms):7.1f} ms   max {max(ms):7.1f} ms"
              f"   ({args.online / statistics.median(seconds):.0f} roster fetches/s;"
              f" Prosody CPU {statistics.median(prosody_cpu) * 1000:.0f} ms per refresh)")


if __name__ == "__main__":
    main()
