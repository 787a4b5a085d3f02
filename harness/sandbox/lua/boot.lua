-- Brings up Prosody's own core inside the sandbox. Everything that touches the
-- operating system is replaced: net.server (virtual clock, sockets owned by Python),
-- net.connect (no DNS), util.time (virtual), certificates (none) and logging (captured).
-- Everything else - stanza routing, sessions, the module API, rosters, users,
-- storage, HTTP parsing and routing, net.http - is Prosody's installed code.
local bridge, settings = ...;

-- Prosody 13 names its libraries prosody.util.* and its loader makes both spellings
-- work (its launcher requires it first); 0.12 has no loader.
local loader_file = io.open(settings.source_dir.."/loader.lua");
if loader_file then loader_file:close(); require "loader"; end

local clock = { now = settings.start_time };
local sandbox = {
	bridge = bridge, clock = clock,
	c2s_login = {}, c2s_sessions = {},
};
package.loaded["harness.sandbox"] = sandbox;
local virtual_time = {
	now = function () return clock.now; end;
	monotonic = function () return clock.now; end;
};

-- A profile that is a config file (a suite's prosody.cfg.lua, included by the file given
-- here) is read as Prosody's launcher reads it: before the libraries, so that what its
-- code does to them holds here too (a clock fixed through package.preload), but after
-- those the launcher loads first. Prosody 13's loads util.time before the config
-- (through util.async), so there a config's util.time changes nothing; 0.12's does not.
local config_file = settings.config.file;
local time_before_config = (tonumber(settings.version:match("^(%d+)")) or 0) >= 13;
if time_before_config or not config_file then
	package.loaded["util.time"] = virtual_time;
end
if config_file then
	local ok, kind, err = require "core.configmanager".load(config_file);
	if not ok then error(("%s: %s"):format(kind, tostring(err)), 0); end
	if not (time_before_config or package.preload["util.time"]) then
		package.loaded["util.time"] = virtual_time;
	end
end
-- PBKDF2 is a pure function and the costliest thing a login does: creating an account
-- and then logging in with it derive the same key, so derived keys are remembered (by
-- Python, for the process: they are values, not state).
do
	local hashes = require "util.hashes";
	for _, name in ipairs({ "pbkdf2_hmac_sha1", "pbkdf2_hmac_sha256" }) do
		local derive = hashes[name];
		hashes[name] = function (password, salt, iterations)
			local key = name.."\0"..password.."\0"..salt.."\0"..iterations;
			local derived = bridge.derived_key(key);
			if not derived then
				derived = derive(password, salt, iterations);
				bridge.remember_derived_key(key, derived);
			end
			return derived;
		end
	end
end
-- TLS contexts: Python does the TLS, so a context is the settings it needs (what to
-- verify against), merged as certmanager merges them, over its default CA folder.
local function create_context(host, mode, ...) -- luacheck: ignore 212/host 212/mode
	local context = { sandbox_context = true, verify = "peer", capath = "/etc/ssl/certs" };
	for i = 1, select("#", ...) do
		for key, value in pairs(select(i, ...) or {}) do context[key] = value; end
	end
	return context;
end
package.loaded["core.certmanager"] = {
	create_context = create_context;
	reload_ssl_config = function () end;
	find_host_cert = function () end;
	index_certs = function () return {}; end;
};

-- Globals Prosody's startup provides (util.startup's init_global_state and friends).
_G.CFG_SOURCEDIR = settings.source_dir;
_G.CFG_CONFIGDIR = settings.data_dir;
_G.CFG_DATADIR = settings.data_dir;
_G.CFG_PLUGINDIR = table.concat(settings.plugin_dirs, ";");

local logger = require "util.logger";
local format = require "util.format".format;
local events = require "util.events";
-- Formatted once, as loggingmanager's sinks do (add_simple_sink would format already,
-- and a second pass would read "%40" in a logged URL as a format specifier).
local function capture_log(source, level, message, ...)
	bridge.log(source, level, format(message, ...));
end
for _, level in ipairs({ "debug", "info", "warn", "error" }) do
	logger.add_level_sink(level, capture_log);
end

local prosody = {
	events = events.new(),
	process_type = "prosody",
	platform = "posix",
	installed = true,
	version = settings.version,
	bare_sessions = {},
	full_sessions = {},
	hosts = {},
	lock_globals = function () end,
	unlock_globals = function () end,
};
_G.prosody = prosody;
_G.bare_sessions, _G.full_sessions, _G.hosts = prosody.bare_sessions, prosody.full_sessions, prosody.hosts;
prosody.paths = { source = settings.source_dir, config = settings.data_dir,
	plugins = _G.CFG_PLUGINDIR, data = settings.data_dir };
_G.log = logger.init("general");
require "util.import"; -- the global import(), as util.startup defines it
prosody.log = _G.log;
prosody.config_loaded = true;

-- modulemanager scans every line of a module's source for "--% key: value" metadata
-- each time it loads it; a module's metadata depends only on its text, so the scan's
-- result is remembered across sandboxes (by Python), keyed by path and text.
-- util.pluginloader finds a module's file by trying to open each candidate name in each
-- plugin folder in turn: some twenty failed opens for one of Prosody's own modules. The
-- same search, in the same order and with the same outcome, asks Python which of the
-- candidates exist (it lists a folder once, and again whenever the folder changes).
do
	local pluginloader = require "util.pluginloader";
	local methods = getmetatable(pluginloader.init()).__index;
	local last_dir = settings.plugin_dirs[#settings.plugin_dirs]:gsub("/*$", "/");
	function methods:load_file(names)
		local load_filter_cb = self._options.load_filter_cb;
		for _, path in ipairs(bridge.plugin_files(names)) do
			local file = io.open(path);
			if file then
				local content = file:read("*a");
				file:close();
				local metadata;
				if load_filter_cb then
					path, content, metadata = load_filter_cb(path, content);
				end
				if content and path then
					return content, path, metadata;
				end
			end
		end
		return nil, last_dir..names[#names]..": No such file or directory";
	end
end

do
	local pluginloader = require "util.pluginloader";
	local init = pluginloader.init;
	function pluginloader.init(options)
		local filter = options and options.load_filter_cb;
		if filter then
			options.load_filter_cb = function (path, content)
				local metadata = bridge.metadata_get(path, content);
				if metadata then return path, content, metadata; end
				local filtered_path, filtered_content, found = filter(path, content);
				if filtered_path == path and filtered_content == content and found then
					bridge.metadata_put(path, content, found);
				end
				return filtered_path, filtered_content, found;
			end
		end
		return init(options);
	end
end

local config = require "core.configmanager";
local function apply_config()
	for key, value in pairs(settings.config.global) do
		config.set("*", key, value);
	end
	for host, options in pairs(settings.config.hosts) do
		config.set(host, "defined", true);
		for key, value in pairs(options) do config.set(host, key, value); end
	end
	for host, component in pairs(settings.config.components) do
		config.set(host, "component_module", component.module or "component");
		config.set(host, "load_global_modules", false);
		for key, value in pairs(component.options) do config.set(host, key, value); end
	end
end
if not config_file then apply_config(); end

local server = require "harness.sandbox.net_server"(bridge, clock);
package.loaded["net.server"] = server;
package.loaded["net.connect"] = require "harness.sandbox.net_connect"(server);
server.contexts_required = (tonumber(settings.version:match("^(%d+)")) or 0) >= 13;

-- The HTTP client's default TLS context, as util.startup's init_http_client makes it: the
-- CA file or folder of the global ssl option, else the system's. It is set when net.http
-- is first required rather than at start: most sandboxes make no request, and net.http
-- with what it requires is a fifth of the start-up.
package.preload["net.http"] = function (name)
	package.preload[name] = nil;
	local http = require(name);
	local ssl = config.get("*", "ssl") or {};
	http.default.options.sslctx = create_context("client_https port 0", "client",
		{ capath = ssl.capath, cafile = ssl.cafile, verify = "peer" }, config.get("*", "client_https_ssl"));
	return http;
end

-- The core libraries, in the order Prosody's startup loads them.
require "util.xmppstream";
require "core.stanza_router";
require "core.statsmanager";
require "core.hostmanager";
require "core.portmanager";
local modulemanager = require "core.modulemanager";
require "core.usermanager";
require "core.rostermanager";
require "core.sessionmanager";
local timer = require "util.timer";
require "core.storagemanager";

local function next_tick(f) return timer.add_task(0, f); end
require "util.promise".set_nexttick(next_tick);
local async = require "util.async";
async.set_nexttick(next_tick);
async.set_schedule_function(timer.add_task);

function prosody.shutdown(reason, code)
	prosody.shutdown_reason, prosody.shutdown_code = reason, code;
	bridge.shutdown_requested(reason or "");
end

sandbox.server = server;
sandbox.modulemanager = modulemanager;

-- Accounts the harness creates (Sandbox.create_user). With internal_hashed, an account's
-- record differs from another with the same password only by its random salt, and
-- deriving its keys is most of the cost: the first record made for a password (by the
-- provider itself) is kept by Python for the process and stored for later accounts.
local usermanager = require "core.usermanager";
local storagemanager = require "core.storagemanager";
function sandbox.create_user(username, password, host)
	local provider = prosody.hosts[host] and prosody.hosts[host].users;
	if not (provider and provider._provided_by == "auth_internal_hashed") then
		return usermanager.create_user(username, password, host);
	end
	local iterations = tostring(config.get(host, "default_iteration_count") or 10000);
	local record = bridge.account_record(password, iterations);
	if not record then
		local ok, err = usermanager.create_user(username, password, host);
		record = ok and storagemanager.open(host, "accounts"):get(username);
		if record and record.salt then
			bridge.remember_account_record(password, iterations, record);
		end
		return ok, err;
	end
	local ok, err = usermanager.create_user(username, nil, host);
	if not ok then return ok, err; end
	return storagemanager.open(host, "accounts"):set(username, record);
end

function sandbox.start()
	prosody.events.fire_event("server-starting");
	prosody.start_time = os.time();
	prosody.events.fire_event("server-started");
	collectgarbage("restart"); -- stopped for the boot (lua_runtime.py's prelude)
end

-- Shuts down as Prosody's util.startup does: hosts stay active and modules loaded
-- (no unload hooks run), mod_c2s closes the sessions on server-stopping.
function sandbox.stop()
	prosody.events.fire_event("server-stopping", { reason = "sandbox stopped" });
	prosody.events.fire_event("server-cleanup");
	prosody.events.fire_event("server-stopped");
	server.closeall();
end

return sandbox;
