-- The sandbox has no server-to-server links: a stanza for a domain it does not host
-- is bounced the way Prosody does when the remote server cannot be found.
local st = require "util.stanza";

local function bounce(event)
	local stanza, origin = event.stanza, event.origin;
	if stanza.attr.type == "error" or stanza.attr.type == "result" then return true; end
	if stanza.name == "presence" and stanza.attr.type ~= nil then return true; end
	local reply = st.error_reply(stanza, "cancel", "remote-server-not-found",
		"Server-to-server connection failed: no server-to-server links in the sandbox");
	module:send(reply, origin);
	return true;
end

module:hook("route/remote", bounce, -1);
