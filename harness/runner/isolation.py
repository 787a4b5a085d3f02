"""Per-scenario account names, so scenarios can share one server without sharing state.

On a shared server each scenario gets a suffix (`_s7`) appended to every local name it
uses: the node of every JID on the profile's hosts and components (accounts, contacts,
MUC rooms) and the same word standing alone (`rosters: {john: ...}`, `/contacts/john`,
`json: [john]`). The rename is applied to everything the scenario sends and expects alike,
so the scenario still reads `john@localhost` while the server sees a fresh `john_s7`.

Names the `prosody:` section mentions are left alone: a JID's node (`admins:
["boss@localhost"]`) or the same word standing alone (`muc_http_auth_enabled_for: [tea]`,
a map key `{tea: ...}`). The profile is shared by every scenario on the server, so it
cannot name one scenario's renamed rooms or users; renaming `tea` in the stanzas but not
in the option would make the scenario test a different room than the one configured.
Reports map the names back.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from harness.scenario import Scenario
from harness.scenario.placeholders import PLACEHOLDER, strings

_NAME = r"[A-Za-z0-9_.\-]"
# Not part of a longer name, an XML tag/attribute name, a namespace or a placeholder.
_BEFORE = r"(?<![A-Za-z0-9_.\-<:$])(?<!</)"
_AFTER = r"(?![A-Za-z0-9_\-=]|\.[A-Za-z0-9])"


class Namespace:
    """Renames a scenario's local names; the identity when `suffix` is empty."""

    def __init__(self, names: set[str], suffix: str):
        self.suffix = suffix if names else ""
        self.names = names
        if self.suffix:
            self._forward = _standing_alone(frozenset(names))

    @classmethod
    def for_scenario(cls, scenario: Scenario, suffix: str) -> Namespace:
        return cls(local_names(scenario), suffix)

    def apply(self, value: Any) -> Any:
        if not self.suffix:
            return value
        if isinstance(value, str):
            return self._rename_text(value)
        if isinstance(value, dict):
            return {self.apply(k): self.apply(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.apply(item) for item in value]
        return value

    def _rename_text(self, text: str) -> str:
        # Placeholders (${john.jid}) name scenario objects, not accounts: kept as they are.
        out, end = [], 0
        for found in PLACEHOLDER.finditer(text):
            out.append(self._forward.sub(lambda m: m[1] + self.suffix, text[end : found.start()]))
            out.append(found[0])
            end = found.end()
        out.append(self._forward.sub(lambda m: m[1] + self.suffix, text[end:]))
        return "".join(out)

    def undo(self, text: str) -> str:
        """Names as the scenario wrote them (for reports)."""
        if not self.suffix:
            return text
        # Only a failure's report needs it: compiled then, not for every scenario.
        back = re.compile(f"{_BEFORE}({_alternatives(self.names)}){re.escape(self.suffix)}{_AFTER}")
        return back.sub(lambda m: m[1], text)


def local_names(scenario: Scenario) -> set[str]:
    """The nodes of JIDs on the profile's hosts that the scenario uses, less those the
    `prosody:` section mentions (as a JID's node or as a word standing alone)."""
    jid = _jid_on(tuple(scenario.host_names()))
    texts = [*scenario.users, *(c.jid for c in scenario.clients.values())]
    texts += list(strings([b.config for b in scenario.backends.values()]))
    texts += list(strings([step.params for step in scenario.steps]))
    names = {m[1] for text in texts for m in jid.finditer(text)}
    return names - profile_names(scenario.prosody, names)


def profile_names(prosody: dict[str, Any], names: set[str]) -> set[str]:
    """Those of `names` that the profile mentions where the renamer would rename them."""
    if not names:
        return set()
    standing_alone = _standing_alone(frozenset(names))
    found: set[str] = set()
    for text in strings(prosody):
        found.update(m[1] for m in standing_alone.finditer(PLACEHOLDER.sub(" ", text)))
    return found


# Compiled once per process for each set of names or hosts (scenarios repeat them): more
# patterns than re's own cache holds were compiled anew for every scenario.
@functools.lru_cache(maxsize=4096)
def _standing_alone(names: frozenset[str]) -> re.Pattern[str]:
    """Any of `names` standing alone (not part of a longer name, a tag or a namespace)."""
    return re.compile(f"{_BEFORE}({_alternatives(names)}){_AFTER}")


@functools.lru_cache(maxsize=256)
def _jid_on(hosts: tuple[str, ...]) -> re.Pattern[str]:
    """A JID on one of `hosts`; group 1 is its node."""
    on = "|".join(re.escape(h) for h in hosts)
    return re.compile(f"(?<!{_NAME})({_NAME}+)@(?:{on})(?![A-Za-z0-9_\\-]|\\.[A-Za-z0-9])")


def _alternatives(names: set[str] | frozenset[str]) -> str:
    # Longest first: a name that begins another must not take the other's place.
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
