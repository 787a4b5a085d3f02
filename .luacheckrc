-- luacheck configuration for the Lua in this repository: the Prosody modules in
-- lua_modules/ and the sandbox's replacement of Prosody's I/O in harness/sandbox/lua/.
-- Run `make lint` (or `luacheck lua_modules harness/sandbox/lua`) from the repository root.

-- What a Prosody module may see besides the Lua 5.4 standard library. modulemanager runs
-- each module in an environment whose `module` is the module API object and whose other
-- globals come from Prosody's _G. Globals are read-only: modules keep their state in locals.
--
-- The module API is listed field by field, as Prosody's own .luacheckrc does for its plugins,
-- so that a misspelt method or a private field (say `module._iq_cache`) is reported. It is the
-- union of Prosody 0.12's and 13's core/moduleapi.lua (13 adds could, may, default_permission(s),
-- get_option_enum/integer/period, on_ready, once), the fields modulemanager sets on each module,
-- and what modules add to the API (mod_http's http_url). A module using a 13-only method must
-- check for it first (`if module.may then ... end`), as the modules here do.

-- Fields modulemanager sets on every module instance.
local module_instance_fields = {
	"name", "host", "path", "global", "reloading", "saved_state", "event_handlers",
	"items", "dependencies", "_log",
};

-- Methods of the module API (core/moduleapi.lua, 0.12 and 13).
local module_api_methods = {
	"add_extension", "add_feature", "add_identity", "add_item", "add_timer", "broadcast",
	"context", "could", "cron", "daily", "default_permission", "default_permissions", "depends",
	"fire_event", "get_directory", "get_host", "get_host_items", "get_host_type", "get_name",
	"get_option", "get_option_array", "get_option_boolean", "get_option_enum",
	"get_option_inherited_set", "get_option_integer", "get_option_number", "get_option_path",
	"get_option_period", "get_option_scalar", "get_option_set", "get_option_string",
	"get_status", "handle_items", "hook", "hook_global", "hook_object_event", "hook_stanza",
	"hook_tag", "hourly", "load_resource", "log", "log_status", "may", "measure", "metric",
	"on_ready", "once", "open_store", "provides", "remove_item", "require", "send", "send_iq",
	"set_global", "set_status", "shared", "unhook", "unhook_object_event", "weekly",
	"wrap_event", "wrap_global", "wrap_object_event",
	-- Added to the API by mod_http.
	"http_url",
};

-- Callbacks modulemanager (and prosodyctl) look up on the module and call: a module sets them.
local module_callbacks = { "load", "unload", "save", "restore", "add_host", "ready", "command" };

local module_fields = {
	-- The module's environment: what its globals live in. A module may export functions to
	-- modules that load it by putting them there (luacheck cannot tell those writes apart from
	-- mistakes; such a line says so with `-- luacheck: ignore 122`).
	environment = { other_fields = true };
};
for _, name in ipairs(module_instance_fields) do module_fields[name] = {}; end
for _, name in ipairs(module_api_methods) do module_fields[name] = {}; end
for _, name in ipairs(module_callbacks) do module_fields[name] = { read_only = false }; end

stds.prosody_module = {
	read_globals = {
		module = { fields = module_fields };
		prosody = {
			other_fields = true;
			fields = {
				-- Sessions and hosts are state that core and modules share and annotate
				-- (session.roster, for instance). luacheck cannot make a field read-only
				-- while its entries stay writable, so these three are writable as a whole.
				bare_sessions = { read_only = false, other_fields = true };
				full_sessions = { read_only = false, other_fields = true };
				hosts = { read_only = false, other_fields = true };
			};
		};
		-- Deprecated aliases of prosody.hosts, prosody.bare_sessions and prosody.full_sessions,
		-- still set by Prosody 0.12 and 13.
		"hosts", "bare_sessions", "full_sessions";
		-- The global logger, logger.init("general").
		"log";
	};
}

std = "lua54+prosody_module"
-- Prosody's style: tabs for indentation; lines may run longer than Lua's common 80.
max_line_length = 150

-- The sandbox's boot script and its stand-ins for Prosody's modules run inside Prosody's
-- core, so they see the same globals. Its connection and runner objects implement
-- Prosody's interfaces with no-op methods, where an unused implicit `self` is expected.
files["harness/sandbox/lua"] = {
	self = false;
}
