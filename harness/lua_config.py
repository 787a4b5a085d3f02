"""A suite's own prosody.cfg.lua (Prosody's own language for a shared profile): what it
configures, and the config file that runs it with the settings the harness owns.

A folder of scenarios with a `prosody.cfg.lua` beside them (Prosody's spec/scansion/ is
one) runs every scenario of the folder against that config. It is not translated: the
config each target runs is

    Include "/path/to/suite/prosody.cfg.lua"   -- the suite's config, as Prosody reads it
    pidfile = ...; data_path = ...; log = ...; c2s_ports = ...   -- what the harness owns

so its Lua code runs as it does in Prosody (`package.preload` tricks, `FileLines` and
`Include` relative to its own folder, `ENV_*`, `Lua.*`), its hosts, components, modules
and accounts policy hold, and only the settings the harness owns (ports, interfaces,
paths, pidfile, logging) are replaced. `config_file_text` writes that text for every
target (harness.prosody_config calls it).

What the harness itself needs to know of the config (its hosts and components, which
options they set) it asks Prosody's own config parser: `read_lua_config` runs that
Prosody version's core.configmanager on the file in a separate Lua process (the config's
code may do anything) and returns the options of every section.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.lua_values import ConfigError, global_assignment, lua_string

CONFIG_NAME = "prosody.cfg.lua"
INSPECT_TIMEOUT = 30.0

# Run by lua5.4 with (source_dir, config_file): loads the file with that Prosody's own
# configmanager and prints every section's options as JSON (values JSON cannot hold are
# shown as "<function>" and the like; cycles as "<cycle>").
INSPECT = r"""
local source_dir, config_file = ...
package.path = source_dir.."/?.lua;"..package.path
package.cpath = source_dir.."/?.so;"..package.cpath
if not pcall(require, "prosody.loader") then pcall(require, "loader") end
_G.prosody = _G.prosody or { paths = { source = source_dir }, hosts = {}, events = nil }
local configmanager = require "core.configmanager"
local ok, kind, err = configmanager.load(config_file)
if not ok then
	io.stderr:write(tostring(kind)..": "..tostring(err).."\n")
	os.exit(3)
end
local function quote(s)
	return '"'..s:gsub('[%c"\\]', function (c)
		return string.format("\\u%04x", c:byte())
	end)..'"'
end
local encode
local function encode_table(t, seen)
	if seen[t] then return '"<cycle>"' end
	seen[t] = true
	local n, count = #t, 0
	for _ in pairs(t) do count = count + 1 end
	local out = {}
	if n > 0 and n == count then
		for i = 1, n do out[i] = encode(t[i], seen) end
		seen[t] = nil
		return "["..table.concat(out, ",").."]"
	end
	for k, v in pairs(t) do
		out[#out + 1] = quote(tostring(k))..":"..encode(v, seen)
	end
	seen[t] = nil
	return "{"..table.concat(out, ",").."}"
end
function encode(v, seen)
	local t = type(v)
	if t == "string" then return quote(v)
	elseif t == "number" then
		if v ~= v or v == math.huge or v == -math.huge then return quote(tostring(v)) end
		return (math.type(v) == "integer") and string.format("%d", v) or string.format("%.17g", v)
	elseif t == "boolean" then return tostring(v)
	elseif t == "table" then return encode_table(v, seen)
	else return quote("<"..t..">") end
end
local sections = {}
for name, options in pairs(configmanager.getconfig()) do
	local raw = {}
	for k, v in next, options do raw[k] = v end
	sections[name] = raw
end
io.write(encode(sections, {}))
"""


class LuaConfigError(ConfigError):
    """The suite's config does not load; the message is Prosody's parser's."""


@dataclass(frozen=True)
class LuaConfig:
    """What a suite's prosody.cfg.lua configures, as Prosody's parser read it."""

    path: str  # absolute
    options: dict[str, Any]  # the global section
    hosts: dict[str, dict[str, Any]]  # VirtualHost name -> its own options
    components: dict[str, dict[str, Any]] = field(default_factory=dict)  # incl. component_module

    @property
    def folder(self) -> str:
        return os.path.dirname(self.path)

    def option(self, host: str, name: str) -> Any:
        """An option as Prosody looks it up for `host`: the section's own, else global."""
        section = self.hosts.get(host) or self.components.get(host) or {}
        return section[name] if name in section else self.options.get(name)


def find_lua_config(folder: str | os.PathLike) -> str | None:
    """The prosody.cfg.lua of `folder`, as an absolute path, if it has one."""
    path = Path(folder, CONFIG_NAME)
    return str(path.resolve()) if path.is_file() else None


def read_lua_config(path: str, source_dir: str) -> LuaConfig:
    """Load `path` with the configmanager of the Prosody whose Lua sources are in
    `source_dir`; LuaConfigError with the parser's message when it does not load."""
    stamp = os.stat(path).st_mtime_ns
    return _read(os.path.abspath(path), stamp, os.path.abspath(source_dir))


@functools.lru_cache(maxsize=32)
def _read(path: str, stamp: int, source_dir: str) -> LuaConfig:
    lua = shutil.which("lua5.4") or shutil.which("lua")
    if not lua:
        raise LuaConfigError("reading a suite's prosody.cfg.lua needs lua5.4 (Prosody's Lua)")
    try:
        result = subprocess.run(
            [lua, "-", source_dir, path],
            input=INSPECT,  # the script on stdin, args after
            capture_output=True,
            text=True,
            timeout=INSPECT_TIMEOUT,
            cwd=os.path.dirname(path),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LuaConfigError(f"{path}: cannot run Prosody's config parser: {exc}") from None
    if result.returncode != 0:
        said = (result.stderr or result.stdout).strip().splitlines()
        raise LuaConfigError(f"{path}: Prosody cannot load it: {said[0] if said else 'no output'}")
    sections = json.loads(result.stdout or "{}")
    options = sections.pop("*", {})
    hosts = {n: o for n, o in sections.items() if "component_module" not in o}
    components = {n: o for n, o in sections.items() if "component_module" in o}
    return LuaConfig(path, options, hosts, components)


def config_file_text(config_file: str, suite_options: dict[str, Any], owned: dict[str, Any]) -> str:
    """The config a target runs for a config-file profile: the file included as it is,
    then the settings the target owns (`owned`) set globally. The suite's own
    plugin_paths (`suite_options`, relative ones resolved against its folder) follow the
    harness's."""
    owned = dict(owned)
    suite_paths = suite_options.get("plugin_paths")
    if isinstance(suite_paths, list) and "plugin_paths" in owned:
        folder = os.path.dirname(config_file)
        owned["plugin_paths"] = [
            *owned["plugin_paths"],
            *(
                p if os.path.isabs(p) else os.path.join(folder, p)
                for p in suite_paths
                if isinstance(p, str)
            ),
        ]
    lines = [
        "-- Generated by prosody-harness for one test run; edits are lost.",
        "-- The suite's own config, as it is:",
        f"Include {lua_string(config_file)}",
        "-- Owned by the harness: ports, interfaces, paths, pidfile, logging.",
        *(global_assignment(name, value) for name, value in owned.items()),
    ]
    return "\n".join(lines) + "\n"


def needs_accounts(config: Any, host: str) -> bool:
    """Whether logging in on `host` needs an account the harness creates: not where a
    config file's authentication lets any name and password in (insecure, anonymous).
    `config` is a harness.prosody_config.ResolvedConfig."""
    if config.config_file is None:
        return True
    return config.option(host, "authentication") not in ("insecure", "anonymous")
