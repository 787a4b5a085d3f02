-- Copyright (C) 2026 the prosody-harness authors
--
-- This project is MIT licensed. Please see pyproject.toml at the root of the
-- repository for the licence.
--
-- mod_block_subscriptions: drop presence subscription requests and answers.
--
-- Used beside mod_http_roster_admin, where an external service decides who is whose contact:
-- clients may neither send nor receive subscribe, subscribed, unsubscribe or unsubscribed
-- presence. See README.markdown.

local tostring = tostring;

local subscription_types = {
	subscribe = true;
	subscribed = true;
	unsubscribe = true;
	unsubscribed = true;
};

-- Dropping subscription stanzas -------------------------------------------------------------------

local function drop_subscription(event)
	local stanza = event.stanza;
	if subscription_types[stanza.attr.type] then
		module:log("debug", "Dropping %s presence from %s to %s", stanza.attr.type,
			tostring(stanza.attr.from or event.origin.full_jid), tostring(stanza.attr.to));
		return true;
	end
end

-- Hooks -------------------------------------------------------------------------------------------

-- Above mod_presence (priority 0), so it never sees these stanzas.
for _, kind in ipairs({ "bare", "full", "host" }) do
	module:hook("pre-presence/"..kind, drop_subscription, 100); -- sent by local clients
	module:hook("presence/"..kind, drop_subscription, 100); -- addressed to local entities
end
