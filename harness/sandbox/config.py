"""The sandbox's configuration: the profile's ResolvedConfig, as every target has it
(harness.prosody_config), plus the sandbox's own few overrides. A profile that is a
config file (a suite's prosody.cfg.lua) is run as the real targets run it: included as it
is, with the settings the sandbox owns after it (harness.lua_config.config_file_text)."""

from __future__ import annotations

import os
from typing import Any

from harness.lua_config import config_file_text
from harness.profile import Profile
from harness.prosody_config import DEFAULT_GLOBAL_OPTIONS, ConfigError, ResolvedConfig, resolve
from harness.target import TargetError

# Defaults a profile may still override.
SANDBOX_DEFAULTS: dict[str, Any] = {
    **DEFAULT_GLOBAL_OPTIONS,
    "default_storage": "memory",
    # Accounts are internal_hashed as on the real server (internal_plain differs: it
    # raises on unknown users), but with the fewest PBKDF2 rounds util.sasl accepts
    # without a warning: 10,000 rounds cost ~3 ms per account and per login.
    "default_iteration_count": 4096,
}
# mod_posix would daemonise, write a pidfile and take over signals.
NOT_IN_SANDBOX = ("posix",)


class InvalidProfile(TargetError):
    """The profile cannot be honoured; the message reads as on every target."""


def sandbox_config(profile: Profile, source_dir: str | None = None) -> ResolvedConfig:
    """The profile's configuration with the sandbox's defaults, without mod_posix (a
    config file: as Prosody in `source_dir` reads it, no defaults added)."""
    try:
        if profile.config_file:
            return resolve(profile, source_dir=source_dir)
        return resolve(profile, SANDBOX_DEFAULTS).without_modules(NOT_IN_SANDBOX)
    except ConfigError as exc:
        raise InvalidProfile(f"invalid profile: {exc}") from None


def boot_config(config: ResolvedConfig, http_port: int, data_dir: str) -> dict[str, Any]:
    """What boot.lua gives Prosody's configmanager: {global, hosts, components}, with the
    settings the sandbox owns (its one HTTP port, its data directory, no other port); for
    a config file, {file}: the config it loads, written into `data_dir`."""
    owned = {
        "http_interfaces": ["127.0.0.1"],
        "http_ports": [http_port],
        "https_ports": [],
        # Nothing else listens: clients and components are connected in process.
        "c2s_ports": [],
        "c2s_direct_tls_ports": [],
        "s2s_ports": [],
        "component_ports": [],
        "data_path": data_dir,
    }
    if config.config_file:
        disabled = config.options.get("modules_disabled")
        owned["modules_disabled"] = [
            *(disabled if isinstance(disabled, list) else []),
            *NOT_IN_SANDBOX,
        ]
        path = os.path.join(data_dir, "prosody.cfg.lua")
        with open(path, "w", encoding="utf-8") as file:
            file.write(config_file_text(config.config_file, config.options, owned))
        return {"file": path}
    return {
        "global": {**config.options, **owned},
        "hosts": config.hosts,
        "components": {
            name: {"module": component.module, "options": component.options}
            for name, component in config.components.items()
        },
    }
