"""Per-scenario account names, so scenarios can share one server without sharing state.

On a shared server each scenario gets a suffix (`_s7`) appended to every local name it
uses: the node of every JID on the profile's hosts and components (accounts, contacts,
MUC rooms) and the same word standing alone (`rosters: {john: ...}`, `/contacts/john`,
`json: [john]`). The rename is applied to everything the scenario sends and expects alike,
so the scenario still reads `john@localhost` while the server sees a fresh `john_s7`.
Names the profile's options mention (an `admins` list, say) are left alone: the options
are shared by every scenario on the server. Reports map the names back.
"""

from __future__ import annotations

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
            alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
            self._forward = re.compile(f"{_BEFORE}({alternatives}){_AFTER}")
            self._back = re.compile(f"{_BEFORE}({alternatives}){re.escape(self.suffix)}{_AFTER}")

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
        return self._back.sub(lambda m: m[1], text)


def local_names(scenario: Scenario) -> set[str]:
    hosts = "|".join(re.escape(h) for h in scenario.host_names())
    jid = re.compile(f"(?<!{_NAME})({_NAME}+)@(?:{hosts})(?![A-Za-z0-9_\\-]|\\.[A-Za-z0-9])")
    texts = [*scenario.users, *(c.jid for c in scenario.clients.values())]
    texts += list(strings([b.config for b in scenario.backends.values()]))
    texts += list(strings([step.params for step in scenario.steps]))
    names = {m[1] for text in texts for m in jid.finditer(text)}
    fixed = {m[1] for text in strings(scenario.prosody) for m in jid.finditer(text)}
    return names - fixed
