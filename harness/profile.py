"""What a scenario asks of Prosody: hosts, components, modules and options.

The same Profile drives every target (sandbox, local prosody, docker), so it holds only
data, never anything about how a target brings it to life.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_HOST = "localhost"

# Modules every virtual host gets before a profile's own modules_enabled/modules_disabled
# apply (Prosody itself autoloads presence, message, iq and c2s).
BASE_HOST_MODULES = ("roster", "saslauth", "disco", "ping")


@dataclass
class VirtualHostProfile:
    name: str
    # Added to the harness' base modules (roster, saslauth, disco, ...), not replacing them.
    modules_enabled: list[str] = field(default_factory=list)
    modules_disabled: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ComponentProfile:
    name: str
    # The component's module, as in `Component "rooms.localhost" "muc"`; None for an
    # external component.
    module: str | None = "muc"
    modules_enabled: list[str] = field(default_factory=list)
    modules_disabled: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Profile:
    hosts: dict[str, VirtualHostProfile] = field(
        default_factory=lambda: {DEFAULT_HOST: VirtualHostProfile(DEFAULT_HOST)}
    )
    components: dict[str, ComponentProfile] = field(default_factory=dict)
    # Global options (outside any VirtualHost/Component block).
    options: dict[str, Any] = field(default_factory=dict)
    # A Prosody config file (a suite's own prosody.cfg.lua) that is the whole profile:
    # run as it is, with the settings the harness owns (see harness.lua_config).
    config_file: str | None = None

    def key(self) -> str:
        """A stable text identity: scenarios with equal keys can share a server."""
        import json

        def plain(obj: Any) -> Any:
            if hasattr(obj, "__dataclass_fields__"):
                return {k: plain(getattr(obj, k)) for k in obj.__dataclass_fields__}
            if isinstance(obj, dict):
                return {str(k): plain(v) for k, v in obj.items()}
            if isinstance(obj, (list, tuple)):
                return [plain(v) for v in obj]
            return obj

        return json.dumps(plain(self), sort_keys=True)
