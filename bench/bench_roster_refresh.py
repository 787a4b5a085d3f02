"""Time a roster refresh POST naming many users, some online, on real Prosody, side by side.

The mock roster app (its own process) holds a roster for every online user; the online
users are logged in with real XMPP clients that asked for their roster and sent presence,
so each refresh fetches their rosters over HTTP, pushes the change and sends presence.
Every refresh changes one contact in every online roster, so every online user really
gets a push. Offline names cost no fetch: the module only refreshes online users.

    .venv/bin/python bench/bench_roster_refresh.py                       # ours only
    .venv/bin/python bench/bench_roster_refresh.py --against-commit HEAD # ours vs HEAD's
    .venv/bin/python bench/bench_roster_refresh.py --against DIR --prosody 13 --profile

With a reference (`--against DIR` or `--against-commit REV`) both servers run at once and
the refreshes alternate between them; each figure is the median over the rounds. Per arm:

  * refresh: wall time of the POST (1,000 names / 100 online by default) and Prosody's
    CPU time over it (/proc/PID/stat);
  * allocated: Lua memory allocated by one such refresh (collectgarbage("count") with the
    collector stopped), and Prosody's CPU for it then (the work without collection);
  * offline names: the same for a POST naming only the offline users (no fetch at all).

See bench/side_by_side.py for the options every side-by-side benchmark shares.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.side_by_side import (  # noqa: E402
    LUA_SOURCES,
    Arm,
    BenchProsody,
    Figure,
    Probe,
    add_arguments,
    alternating,
    arms,
    backend_process,
    cpu_seconds,
    print_profile,
    print_table,
    probe_folder,
    settings,
)
from harness.profile import Profile, VirtualHostProfile  # noqa: E402
from harness.target import Client  # noqa: E402

HOST = "localhost"
PASSWORD = "bench"
FIGURES = [
    Figure("refresh_ms", "refresh, wall time", "ms"),
    Figure("refresh_cpu_ms", "refresh, Prosody CPU", "ms"),
    Figure("refresh_kb", "refresh, Lua memory allocated", "KB", 0),
    Figure("refresh_nogc_cpu_ms", "refresh, Prosody CPU with the collector stopped", "ms"),
    Figure("offline_ms", "offline names only, wall time", "ms", 2),
    Figure("offline_cpu_ms", "offline names only, Prosody CPU", "ms", 1),
    Figure("offline_kb", "offline names only, Lua memory allocated", "KB", 1),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000, help="usernames in the POST (1000)")
    parser.add_argument("--online", type=int, default=100, help="of which logged in (100)")
    parser.add_argument("--contacts", type=int, default=20, help="contacts per roster (20)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="http_roster_concurrency (8, the module's default)",
    )
    add_arguments(parser, rounds=9)
    args = parser.parse_args()
    if not 0 < args.online < args.users or args.contacts >= args.users:
        parser.error("need 0 < online < users and contacts < users")
    return args


def roster_of(index: int, users: int, contacts: int, change: int) -> dict:
    """`contacts` neighbours of user `index`, plus one contact that changes every refresh."""
    roster = {
        f"user{(index + k) % users}@{HOST}": {
            "name": f"User {(index + k) % users}",
            "groups": ["Bench"],
        }
        for k in range(1, contacts)
    }
    roster[f"extra{change}@{HOST}"] = {"name": f"Extra {change}"}
    return roster


# -- the roster web app ----------------------------------------------------------------


class RosterApp:
    def __init__(self, url: str, args: argparse.Namespace) -> None:
        self.url = url
        self.args = args
        self.control = requests.Session()

    def set_online_rosters(self, change: int) -> None:
        for index in range(self.args.online):
            roster = roster_of(index, self.args.users, self.args.contacts, change)
            self.control.put(
                f"{self.url}/_mock/rosters/user{index}", json=roster, timeout=10
            ).raise_for_status()

    def clear_journal(self) -> None:
        self.control.delete(f"{self.url}/_mock/journal", timeout=10).raise_for_status()

    def fetches(self) -> int:
        return len(self.control.get(f"{self.url}/_mock/journal", timeout=10).json())


# -- one arm: a server with its online users -------------------------------------------


class RefreshArm:
    """A Prosody running one arm's modules, its users online."""

    def __init__(self, arm: Arm, app: RosterApp, args: argparse.Namespace, probe_dir: Path) -> None:
        self.arm = arm
        self.app = app
        self.args = args
        host = VirtualHostProfile(
            HOST,
            modules_enabled=["http_roster_admin", "block_subscriptions"],
            modules_disabled=["roster"],
            options={
                "storage": {"roster": "memory"},
                "http_roster_url": f"{app.url}/contacts/%s",
                "http_roster_concurrency": args.concurrency,
            },
        )
        self.server = BenchProsody(
            Profile(hosts={HOST: host}),
            arm.modules,
            args.prosody,
            args.log_level,
            probe_dir,
            gc=arm.gc,
        )
        self.probe = Probe(self.server)
        self.clients: list[Client] = []
        names = [f"user{index}" for index in range(args.users)]
        self.all_body = json.dumps(names).encode()
        self.offline_body = json.dumps(names[args.online :]).encode()

    def start(self) -> None:
        self.server.start()
        for index in range(self.args.online):
            self.server.create_user(f"user{index}", HOST, PASSWORD)
            client = self.server.connect(f"user{index}@{HOST}", PASSWORD)
            client.send('<iq type="get" id="roster"><query xmlns="jabber:iq:roster"/></iq>')
            client.receive(lambda el: el.get("id") == "roster", timeout=10)
            client.send("<presence/>")
            self.clients.append(client)

    def stop(self) -> None:
        for client in self.clients:
            client.disconnect()
        self.server.stop()

    def post(self, body: bytes, expect_updated: int) -> None:
        response = self.server.http("POST", "/roster_admin/refresh", body=body, timeout=60)
        answer = response.json()
        if response.status != 200 or answer.get("updated") != expect_updated:
            raise SystemExit(f"{self.arm.label}: refresh failed: {response.status} {answer}")

    def refresh(self, change: int) -> tuple[float, float]:
        """One full refresh after a change to every online roster: (wall s, CPU s)."""
        self.app.set_online_rosters(change)
        self.app.clear_journal()
        pid = self.server.pid
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        self.post(self.all_body, self.args.users)
        wall = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_before
        fetches = self.app.fetches()
        if fetches != self.args.online:
            raise SystemExit(
                f"{self.arm.label}: expected {self.args.online} roster fetches, saw {fetches}"
            )
        added = f".//{{jabber:iq:roster}}item[@jid='extra{change}@{HOST}']"
        for client in self.clients:  # every online user got the push
            client.receive(lambda el, path=added: el.find(path) is not None, timeout=10)
        return wall, cpu

    def offline_refresh(self) -> tuple[float, float]:
        """A refresh naming only offline users: (wall s, CPU s); nothing is fetched."""
        self.app.clear_journal()
        pid = self.server.pid
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        self.post(self.offline_body, self.args.users - self.args.online)
        wall = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_before
        if self.app.fetches():
            raise SystemExit(f"{self.arm.label}: a refresh of offline users fetched rosters")
        return wall, cpu


def measure(arm_list: list[Arm], args: argparse.Namespace) -> None:
    with ExitStack() as stack:
        app = RosterApp(stack.enter_context(backend_process("roster", {"rosters": {}})), args)
        probe_dir = stack.enter_context(probe_folder())
        app.set_online_rosters(0)
        runs = []
        for arm in arm_list:
            run = RefreshArm(arm, app, args, probe_dir)
            stack.callback(run.stop)
            run.start()
            arm.prosody = run.server.version
            runs.append(run)
        change = 0
        for run in runs:  # warm-up, not counted: first use of every code path
            change += 1
            run.refresh(change)
            run.offline_refresh()
        for _, run in alternating(args.rounds, runs):
            change += 1
            wall, cpu = run.refresh(change)
            run.arm.record("refresh_ms", wall * 1000)
            run.arm.record("refresh_cpu_ms", cpu * 1000)
            wall, cpu = run.offline_refresh()
            run.arm.record("offline_ms", wall * 1000)
            run.arm.record("offline_cpu_ms", cpu * 1000)
        for _, run in alternating(3, runs):
            change += 1
            cpu_box: list[float] = []
            kb = run.probe.allocated_kb(
                lambda r=run, c=change, box=cpu_box: box.append(r.refresh(c)[1])
            )
            run.arm.record("refresh_kb", kb)
            run.arm.record("refresh_nogc_cpu_ms", cpu_box[0] * 1000)
            run.arm.record("offline_kb", run.probe.allocated_kb(run.offline_refresh))
        if args.profile:
            for run in runs:
                for memory in (False, True):
                    change += 1
                    total, functions = run.probe.profiled(
                        lambda r=run, c=change: r.refresh(c), memory=memory
                    )
                    print_profile(
                        run.arm.label, total, functions, [run.arm.modules, *LUA_SOURCES], memory
                    )
        for run in runs:
            run.server.check_log()


def main() -> None:
    args = parse_args()
    with arms(args) as arm_list:
        measure(arm_list, args)
        print_table(
            f"roster refresh: POST naming {args.users} users, {args.online} online, "
            f"{args.contacts} contacts each, http_roster_concurrency={args.concurrency}, "
            f"{settings(args)}, "
            f"{args.rounds} alternating rounds (allocation: 3)",
            arm_list,
            FIGURES,
            args.markdown,
        )


if __name__ == "__main__":
    main()
