-- luacheck configuration for the Lua in this repository: the Prosody modules in
-- lua_modules/ and the sandbox's replacement of Prosody's I/O in harness/sandbox/lua/.
-- Run `make lint` (or `luacheck lua_modules harness/sandbox/lua`) from the repository root.

-- What a Prosody module may see besides the Lua 5.4 standard library. modulemanager runs
-- each module in an environment whose `module` is the module API object and whose other
-- globals come from Prosody's _G. Globals are read-only: modules keep their state in locals.
stds.prosody_module = {
	read_globals = {
		module = {
			other_fields = true;
			fields = {
				-- Callbacks modulemanager looks up on the module and calls.
				load = { read_only = false };
				unload = { read_only = false };
				save = { read_only = false };
				restore = { read_only = false };
				add_host = { read_only = false };
			};
		};
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
