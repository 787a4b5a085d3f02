"""The one translation of a Profile into Prosody configuration, for every target.

`resolve(profile)` checks a profile once and gives a `ResolvedConfig`: the global options
and every VirtualHost and Component with its final options (modules_enabled and
modules_disabled worked out). `render_config` writes it as prosody.cfg.lua for a real
Prosody (local binary or container), adding the settings the harness owns from a
`ServerLayout`; the sandbox hands the same structure to Prosody's configmanager, adding
only its own (see harness/sandbox/config.py). So a profile means the same everywhere, and
one the harness cannot honour raises the same ConfigError on every target, which each
reports as "invalid profile: ...".

Python values become Lua values (str, int, float, bool, list, tuple, dict, nested; None
means "not set" and is left out). The harness owns the settings that make a server
private and drivable (loopback, its own ports, paths and log); a profile may override the
defaults that only relax security for tests (authentication, encryption, ...), never those.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from harness.lua_config import config_file_text, read_lua_config
from harness.lua_values import (  # noqa: F401 - the literals are imported from here too
    IDENTIFIER,
    LUA_KEYWORDS,
    ConfigError,
    global_assignment,
    lua_key,
    lua_string,
    lua_value,
)
from harness.profile import BASE_HOST_MODULES, Profile

# Every virtual host also loads mod_http so that Prosody's HTTP server always answers
# (readiness and `http` steps); a profile can still disable it.
HARNESS_HOST_MODULES = (*BASE_HOST_MODULES, "http")


# Defaults for tests: plaintext c2s login on loopback, no Nagle stalls (see PROSODY_NOTES).
# internal_hashed is what Prosody ships and what deployments run, so password checks
# (SASL, HTTP Basic in mod_rest & co.) behave exactly as in production.
DEFAULT_GLOBAL_OPTIONS: dict[str, Any] = {
    "authentication": "internal_hashed",
    "c2s_require_encryption": False,
    "allow_unencrypted_plain_auth": True,
    "network_settings": {"nagle": False},
}

# Set by the harness from the layout; a profile setting one of them is a mistake.
HARNESS_OWNED_OPTIONS = frozenset(
    {
        "pidfile",
        "data_path",
        "certificates",
        "log",
        "run_as_root",
        "daemonize",
        "interfaces",
        "local_interfaces",
        "http_interfaces",
        "c2s_ports",
        "http_ports",
        "s2s_ports",
        "https_ports",
        "c2s_direct_tls_ports",
        "s2s_direct_tls_ports",
        "plugin_paths",
    }
)
PER_HOST_COMPUTED = frozenset({"modules_enabled", "modules_disabled"})


@dataclass
class ServerLayout:
    """Where one server lives: its files, its ports and the addresses it binds.

    Paths are as the server sees them (inside the container for docker).
    """

    data_path: str
    pidfile: str
    certificates: str
    plugin_paths: list[str]
    c2s_port: int
    http_port: int
    log_file: str | None = None  # None: log to stdout (containers), same line format
    interfaces: list[str] = field(default_factory=lambda: ["127.0.0.1"])
    log_level: str = "debug"


def host_modules(enabled: Sequence[str], disabled: Sequence[str]) -> list[str]:
    """A virtual host's modules_enabled: the harness base plus the profile's, minus disabled."""
    wanted = [*HARNESS_HOST_MODULES, *enabled]
    seen: set[str] = set()
    result = []
    for name in wanted:
        if name not in seen and name not in disabled:
            seen.add(name)
            result.append(name)
    return result


def _check_not_owned(options: Mapping[str, Any], where: str) -> None:
    owned = sorted(set(options) & HARNESS_OWNED_OPTIONS)
    if owned:
        raise ConfigError(
            f"{where}: {', '.join(owned)} {'is' if len(owned) == 1 else 'are'} set by the "
            "harness (ports, paths and logging are chosen per run)"
        )


def _checked(options: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A section's options without the unset (None) ones, each name and value checked
    to be expressible as Prosody configuration."""
    _check_not_owned(options, where)
    kept = {}
    for name, value in options.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: option name {name!r} must be a non-empty string")
        if value is None:
            continue
        try:
            lua_value(value)
        except ConfigError as exc:
            raise ConfigError(f"{where}: option {name}: {exc}") from None
        kept[name] = value
    return kept


def _modules(where: str, options: Mapping[str, Any]) -> None:
    clash = sorted(set(options) & PER_HOST_COMPUTED)
    if clash:
        raise ConfigError(f"{where}: give {', '.join(clash)} as lists, not as options")


def _without(names: Sequence[str], drop: Sequence[str]) -> list[str]:
    return [name for name in names if name not in drop]


@dataclass(frozen=True)
class ComponentConfig:
    module: str | None  # as in `Component "rooms.localhost" "muc"`; None: external
    options: dict[str, Any]


@dataclass(frozen=True)
class ResolvedConfig:
    """What a profile means to Prosody, checked: the options of the global section, of
    each VirtualHost (modules_enabled with the harness' base modules, modules_disabled
    when any) and of each Component. Options are never None (unset ones are left out).
    The settings the harness owns (ports, paths, log) are not in it: each target adds its
    own."""

    options: dict[str, Any]
    hosts: dict[str, dict[str, Any]]
    components: dict[str, ComponentConfig] = field(default_factory=dict)
    # A profile that is a Prosody config file: that file (its sections above are what
    # Prosody read from it), run as it is with the harness's settings (harness.lua_config).
    config_file: str | None = None

    @property
    def default_host(self) -> str:
        return next(iter(self.hosts))

    @property
    def http_enabled(self) -> bool:
        """Whether some host or component loads mod_http, i.e. the HTTP server listens."""
        sections = [*self.hosts.values(), *(c.options for c in self.components.values())]
        return any("http" in section.get("modules_enabled", ()) for section in sections)

    def option(self, host: str, name: str) -> Any:
        """An option as Prosody looks it up for `host`: the host's own, else the global."""
        section = self.hosts[host] if host in self.hosts else self.components[host].options
        return section[name] if name in section else self.options.get(name)

    def without_modules(self, names: Sequence[str]) -> ResolvedConfig:
        """The same configuration with modules `names` never loaded: taken out of every
        modules_enabled and added to every modules_disabled (a section with its own
        list would otherwise not see the global one)."""

        def section(options: Mapping[str, Any]) -> dict[str, Any]:
            changed = dict(options)
            if "modules_enabled" in changed:
                changed["modules_enabled"] = _without(changed["modules_enabled"], names)
            changed["modules_disabled"] = [*changed.get("modules_disabled", ()), *names]
            return changed

        return ResolvedConfig(
            section(self.options),
            {name: section(options) for name, options in self.hosts.items()},
            {
                name: replace(component, options=section(component.options))
                for name, component in self.components.items()
            },
            self.config_file,
        )


def resolve(
    profile: Profile,
    defaults: Mapping[str, Any] = DEFAULT_GLOBAL_OPTIONS,
    source_dir: str | None = None,
) -> ResolvedConfig:
    """Check `profile` and work out its configuration; ConfigError names what is wrong.

    `defaults` are the global options a profile may override (a target can relax or
    tighten them, as the sandbox does for storage). A profile that is a config file is
    read by the configmanager of the Prosody whose sources are in `source_dir` (default:
    the one on PATH), and takes no defaults: it is run as it is."""
    if profile.config_file:
        return _from_config_file(profile.config_file, source_dir)
    if not profile.hosts:
        raise ConfigError("the profile has no virtual host")
    global_options = _checked(
        {**defaults, "http_default_host": next(iter(profile.hosts)), **profile.options},
        "global options",
    )
    hosts = {}
    for name, host in profile.hosts.items():
        where = f"VirtualHost {name!r}"
        _modules(where, host.options)
        modules = {
            "modules_enabled": host_modules(host.modules_enabled, host.modules_disabled),
            "modules_disabled": list(host.modules_disabled) or None,
        }
        hosts[name] = _checked({**modules, **host.options}, where)
    components = {}
    for name, component in profile.components.items():
        where = f"Component {name!r}"
        _modules(where, component.options)
        modules = {
            "modules_enabled": _without(component.modules_enabled, component.modules_disabled)
            or None,
            "modules_disabled": list(component.modules_disabled) or None,
        }
        options = _checked({**modules, **component.options}, where)
        components[name] = ComponentConfig(component.module, options)
    return ResolvedConfig(global_options, hosts, components)


def _from_config_file(path: str, source_dir: str | None) -> ResolvedConfig:
    """A config-file profile: its sections as that Prosody's parser reads them."""
    from harness.prosody_install import ProsodyInstallError, resolve_prosody

    try:
        config = read_lua_config(path, source_dir or resolve_prosody().source_dir)
    except ProsodyInstallError as exc:
        raise ConfigError(str(exc)) from None
    components = {
        name: ComponentConfig(options.get("component_module"), options)
        for name, options in config.components.items()
    }
    return ResolvedConfig(config.options, config.hosts, components, config_file=config.path)


def http_enabled(profile: Profile) -> bool:
    """Whether some virtual host loads mod_http, i.e. Prosody's HTTP server will listen."""
    return resolve(profile).http_enabled


def harness_options(layout: ServerLayout) -> dict[str, Any]:
    """The global settings the harness owns for a real server laid out as `layout`."""
    if layout.log_file is None:
        log: Any = [
            {
                "levels": {"min": layout.log_level},
                "to": "stdout",
                "timestamps": True,
                "source_width": False,  # tab-separated like the file sink, one parser
            }
        ]
    else:
        log = {layout.log_level: layout.log_file}
    return {
        "pidfile": layout.pidfile,
        "data_path": layout.data_path,
        "certificates": layout.certificates,
        "log": log,
        "run_as_root": True,
        "plugin_paths": layout.plugin_paths,
        "interfaces": layout.interfaces,
        "local_interfaces": layout.interfaces,
        "http_interfaces": layout.interfaces,
        "c2s_ports": [layout.c2s_port],
        "http_ports": [layout.http_port],
        "s2s_ports": [],
        "https_ports": [],
        "c2s_direct_tls_ports": [],
        "s2s_direct_tls_ports": [],
    }


def render_config(profile: Profile | ResolvedConfig, layout: ServerLayout) -> str:
    """The whole prosody.cfg.lua text for `profile` laid out as `layout` says."""
    config = profile if isinstance(profile, ResolvedConfig) else resolve(profile)
    if config.config_file:
        return config_file_text(config.config_file, config.options, harness_options(layout))
    global_options = {**harness_options(layout), **config.options}
    lines = ["-- Generated by prosody-harness for one test run; edits are lost.", ""]
    lines += [global_assignment(k, v) for k, v in global_options.items()]
    for name, options in config.hosts.items():
        lines += ["", f"VirtualHost {lua_string(name)} {lua_value(options)}"]
    for name, component in config.components.items():
        head = f"Component {lua_string(name)}"
        if component.module:
            head += f" {lua_string(component.module)}"
        lines += ["", f"{head} {lua_value(component.options)}"]
    return "\n".join(lines) + "\n"
