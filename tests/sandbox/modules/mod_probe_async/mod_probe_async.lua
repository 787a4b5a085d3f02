-- Test fixture: a stanza handler that waits for HTTP (util.async) before replying.
local http = require "net.http";
local async = require "util.async";
local st = require "util.stanza";

local url = module:get_option_string("probe_async_url");

module:hook("message/host", function (event)
	local stanza = event.stanza;
	local response, err = async.wait_for(http.request(url));
	local text = response and response.body or ("failed: "..tostring(err));
	module:send(st.reply(stanza):body(text), event.origin);
	return true;
end);
