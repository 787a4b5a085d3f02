"""`--shard K/N`: one of N deterministic parts of a suite, for CI jobs that split it.

Scenarios that would share a server (same reuse key) stay in one shard, so splitting costs
no extra server starts; the groups go, largest first (ties by key), to the shard with the
fewest scenarios so far. The same files give the same shards on every machine.
"""

from __future__ import annotations

import re
from collections import defaultdict

from harness.scenario import Scenario

SHARD = re.compile(r"^(\d+)/(\d+)$")


class ShardError(ValueError):
    pass


def parse_shard(text: str) -> tuple[int, int]:
    """ "2/4" -> (2, 4); K counts from 1."""
    found = SHARD.match(text.strip())
    if not found:
        raise ShardError(f"--shard {text!r}: expected K/N, e.g. 2/4")
    k, n = int(found[1]), int(found[2])
    if not 1 <= k <= n:
        raise ShardError(f"--shard {text}: K must be between 1 and N")
    return k, n


def shard(scenarios: list[Scenario], k: int, n: int) -> list[Scenario]:
    groups: dict[str, list[Scenario]] = defaultdict(list)
    for scenario in scenarios:
        key = scenario.reuse_key() if scenario.shared_server else f"own:{scenario.id}"
        groups[key].append(scenario)
    loads = [0] * n
    mine: list[Scenario] = []
    for _key, members in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])):
        lightest = loads.index(min(loads))
        loads[lightest] += len(members)
        if lightest == k - 1:
            mine += members
    return sorted(mine, key=lambda s: (s.file, s.name))
