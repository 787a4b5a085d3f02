"""What a loaded scenario is: its profile template, accounts, backends, clients, steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.profile import DEFAULT_HOST, ComponentProfile, Profile, VirtualHostProfile


@dataclass
class Step:
    """One step. `kind` names the action; `actor` is the client or backend it acts on.

    `params` keeps the step's values as written (placeholders unresolved): the runner
    resolves them when the step runs, once JIDs and URLs are known.
    """

    kind: str
    line: int
    text: str  # the step as written, for reports
    actor: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None


@dataclass
class ClientSpec:
    name: str
    jid: str
    password: str
    resource: str | None = None


@dataclass
class BackendSpec:
    name: str
    kind: str  # roster | muc_auth | rest_callback
    config: dict[str, Any] = field(default_factory=dict)  # initial state, as written


@dataclass
class Scenario:
    name: str
    file: str
    line: int = 1
    description: str = ""
    tags: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)  # empty: every target
    prosody_versions: list[str] = field(default_factory=list)  # series; empty: every one
    because: str = ""  # why it is restricted to those targets or versions
    # The `prosody:` section as written; placeholders are resolved by build_profile().
    prosody: dict[str, Any] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # bare JID -> password
    clients: dict[str, ClientSpec] = field(default_factory=dict)
    backends: dict[str, BackendSpec] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    allow_log: list[str] = field(default_factory=list)
    # False: never share a server with another scenario (and never rename accounts).
    shared_server: bool = True
    # "harness": a receive waits for a matching stanza, loosely matched; "scansion": it
    # takes the next stanza, matched by scansion's rules (every .scs script).
    matching: str = "harness"

    def runs_on(self, target: str, series: str | None = None) -> bool:
        """Whether it runs on `target` with Prosody `series` (None: version unknown)."""
        if self.targets and target not in self.targets:
            return False
        return not (self.prosody_versions and series and series not in self.prosody_versions)

    def restriction(self) -> str:
        """Why it skips where it does not run: "runs only on Prosody 13: <because>"."""
        where = []
        if self.targets:
            where.append(", ".join(self.targets))
        if self.prosody_versions:
            where.append("Prosody " + ", ".join(self.prosody_versions))
        reason = f": {self.because}" if self.because else ""
        return f"runs only on {' with '.join(where)}{reason}"

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"

    def host_names(self) -> list[str]:
        hosts = self.prosody.get("hosts") or {DEFAULT_HOST: {}}
        return [*hosts, *(self.prosody.get("components") or {})]

    def reuse_key(self) -> str:
        """Scenarios with equal keys can share one server: same profile as written, and
        the same backend names, kinds and schemes (their URLs are fixed per server)."""
        import json

        # A backend's scheme is part of its URL in the config: https and http differ.
        backends = sorted(
            (b.name, b.kind, str(b.config.get("tls"))) for b in self.backends.values()
        )
        return json.dumps([self.prosody, backends], sort_keys=True, default=str)


def build_profile(section: dict[str, Any]) -> Profile:
    """A Profile from a `prosody:` section whose placeholders are already resolved."""
    if section.get("config_file"):
        return Profile(hosts={}, config_file=str(section["config_file"]))

    def host(name: str, spec: dict[str, Any]) -> VirtualHostProfile:
        return VirtualHostProfile(
            name,
            list(spec.get("modules_enabled") or []),
            list(spec.get("modules_disabled") or []),
            dict(spec.get("options") or {}),
        )

    if "hosts" in section:
        hosts = {name: host(name, spec or {}) for name, spec in section["hosts"].items()}
    else:
        hosts = {DEFAULT_HOST: host(DEFAULT_HOST, section)}
    components = {
        name: ComponentProfile(
            name,
            (spec or {}).get("module", "muc"),
            list((spec or {}).get("modules_enabled") or []),
            list((spec or {}).get("modules_disabled") or []),
            dict((spec or {}).get("options") or {}),
        )
        for name, spec in (section.get("components") or {}).items()
    }
    return Profile(hosts=hosts, components=components, options=dict(section.get("global") or {}))
