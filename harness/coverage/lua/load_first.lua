-- prosody-harness --coverage: loads mod_harness_coverage on "*" as the server starts,
-- before hostmanager activates the hosts and loads their modules, so that a module's
-- own loading is counted too.
--
-- Real Prosody runs this file from its configuration (RunScript, while the file is read),
-- where the module's options are set too; the sandbox runs it after its boot, before its
-- start, and passes the options ({ file = ..., roots = { ... } }). Anything else that
-- reads the configuration (prosodyctl) is left alone, and so is a configuration reload.
local settings = ...;
local prosody = _G.prosody;
if type(prosody) ~= "table" or not prosody.events or prosody.process_type ~= "prosody" then
	return;
end
if prosody.harness_coverage_registered then return; end
prosody.harness_coverage_registered = true;

if type(settings) == "table" then
	local config = require "core.configmanager";
	config.set("*", "harness_coverage_file", settings.file);
	config.set("*", "harness_coverage_roots", settings.roots);
end

prosody.events.add_handler("server-starting", function ()
	local modulemanager = require "core.modulemanager";
	local ok, err = modulemanager.load("*", "harness_coverage");
	if not ok then
		prosody.log("error", "prosody-harness coverage: mod_harness_coverage did not load: %s", tostring(err));
	end
end, 1000);
