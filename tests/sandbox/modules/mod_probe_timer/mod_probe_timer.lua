-- Test fixture: one-shot and repeating timers on the module's clock.
local time_now = require "util.time".now;
local fired = {};
local started = time_now();

module:add_timer(5, function ()
	table.insert(fired, ("once at +%g"):format(time_now() - started));
end);

local ticks = 0;
module:add_timer(2, function ()
	ticks = ticks + 1;
	table.insert(fired, ("tick %d at +%g"):format(ticks, time_now() - started));
	if ticks < 3 then return 2; end
end);

module:hook("probe/timers", function () return fired; end);
