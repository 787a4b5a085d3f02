-- Test fixture: module:send_iq and what its promise settles with.
local st = require "util.stanza";
local outcome = {};

module:hook("probe/send_iq", function (event)
	local iq = st.iq({ type = "get"; to = event.to; from = module.host; id = event.id })
		:tag("ping", { xmlns = "urn:xmpp:ping" });
	module:send_iq(iq, nil, event.timeout):next(function (response)
		outcome[event.id] = "result from "..response.stanza.attr.from;
	end, function (err)
		outcome[event.id] = "error "..tostring(err.condition or err);
	end);
	return true;
end);

module:hook("probe/iq_outcome", function () return outcome; end);
