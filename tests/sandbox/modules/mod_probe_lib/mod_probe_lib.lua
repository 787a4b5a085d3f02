-- Test fixture: module:require of a file beside the module, depends and shared.
local helper = module:require("helper");
local events_module = module:depends("probe_events");
local shared = module:shared("probe/state");
shared.counter = (shared.counter or 0) + 1;

module:hook("probe/lib", function ()
	return {
		greeting = helper.greet("lib");
		depends_name = events_module.module.name;
		shared_counter = shared.counter;
	};
end);
