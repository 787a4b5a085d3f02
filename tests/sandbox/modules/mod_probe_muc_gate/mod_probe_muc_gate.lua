-- Test fixture: admits or refuses MUC joins by nickname, as an auth module would.
local st = require "util.stanza";
local jid_resource = require "util.jid".resource;
local seen = {};

module:hook("muc-room-pre-create", function (event)
	table.insert(seen, "pre-create "..event.room.jid);
end);

module:hook("muc-occupant-pre-join", function (event)
	local nick = jid_resource(event.occupant.nick);
	table.insert(seen, ("pre-join %s by %s"):format(event.room.jid, event.stanza.attr.from));
	if nick == "Intruder" then
		event.origin.send(st.error_reply(event.stanza, "auth", "not-authorized"));
		return true;
	end
end);

module:hook("probe/muc", function () return seen; end);
