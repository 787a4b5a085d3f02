-- Test fixture: answers a message to later@<host> only after the number of seconds its
-- body names, from a timer (as a module waiting on a timeout would), and logs when.
local st = require "util.stanza";
local time_now = require "util.time".now;

module:hook("message/full", function (event)
	local stanza = event.stanza;
	local to = stanza.attr.to or "";
	if not to:match("^later@") then return; end
	local delay = tonumber(stanza:get_child_text("body")) or 1;
	local asked = time_now();
	module:add_timer(delay, function ()
		module:log("info", "answering after %g s", time_now() - asked);
		module:send(st.message({ to = stanza.attr.from, from = to, type = "chat" })
			:text_tag("body", ("after %g"):format(delay)));
	end);
	return true;
end, 10);
