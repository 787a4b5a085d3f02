-- Test fixture: hooks at several priorities, a stopping handler and wrap_event.
local calls = {};

module:hook("probe/order", function () table.insert(calls, "low"); end, -10);
module:hook("probe/order", function () table.insert(calls, "high"); end, 10);
module:hook("probe/order", function () table.insert(calls, "default"); end);

module:hook("probe/stop", function () return "stopped here"; end, 5);
module:hook("probe/stop", function () table.insert(calls, "never"); end, 1);

module:hook("probe/wrapped", function (event) return "inner saw "..event.value; end);
module:wrap_event("probe/wrapped", function (handlers, event_name, event_data)
	event_data.value = event_data.value * 2;
	return "wrapped("..handlers(event_name, event_data)..")";
end);

module:hook("probe/global", function () table.insert(calls, "global"); end);
module:hook_global("probe/global", function () table.insert(calls, "from global"); end);

module:hook("probe/calls", function ()
	local seen = calls;
	calls = {};
	return seen;
end);
