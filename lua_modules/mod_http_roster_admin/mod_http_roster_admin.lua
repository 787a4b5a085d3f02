-- mod_http_roster_admin: users' rosters live in an external web application.
--
-- Rosters are fetched over HTTP when a user comes online, served to the user's
-- clients from memory, and re-fetched when the web application POSTs the names
-- of users whose rosters changed. Clients cannot edit the roster.
-- See README.markdown for the protocol and the design decisions.

local async = require "util.async";
local http = require "net.http";
local json = require "util.json";
local jid_prep = require "util.jid".prep;
local jid_resource = require "util.jid".resource;
local nodeprep = require "util.encodings".stringprep.nodeprep;
local promise = require "util.promise";
local rm_roster_push = require "core.rostermanager".roster_push;
local st = require "util.stanza";

local bare_sessions = prosody.bare_sessions;

local roster_url = module:get_option_string("http_roster_url");
local fetch_timeout = module:get_option_number("http_roster_timeout", 5);
local max_body = module:get_option_number("http_roster_max_body", 1024 * 1024);
local max_concurrent = module:get_option_number("http_roster_concurrency", 8);

if not roster_url or not roster_url:find("%s", 1, true) then
	error("http_roster_url must be set to a URL containing %s (replaced by the username)");
end
if fetch_timeout <= 0 or max_body < 1 or max_concurrent < 1 then
	error("http_roster_timeout, http_roster_max_body and http_roster_concurrency must be positive");
end

module:depends("http");

-- util.json tells decoded arrays from objects by their metatable (0.12 marks arrays and
-- leaves objects bare). Probing both at load keeps the checks right whatever marks a
-- Prosody version uses.
local json_array_mt = getmetatable(json.decode("[]"));
local json_object_mt = getmetatable(json.decode("{}"));
if json_array_mt == json_object_mt then
	error("this Prosody's util.json does not tell JSON arrays from objects");
end

local function is_json_object(value)
	return type(value) == "table" and getmetatable(value) == json_object_mt;
end

local function is_json_array(value)
	return type(value) == "table" and getmetatable(value) == json_array_mt;
end

local function decode_json(text)
	-- util.json can throw on some hostile inputs (e.g. an "__array" key), hence pcall.
	local ok, value, err = pcall(json.decode, text);
	if not ok then return nil, "invalid JSON"; end
	if value == nil then return nil, "invalid JSON: "..tostring(err); end
	return value;
end

--- Fetching one roster from the web application

-- Percent-encode every byte outside RFC 3986's unreserved set, so that no
-- username can alter the path or add a query to the URL.
local function url_encode(text)
	return (text:gsub("[^A-Za-z0-9%-%._~]", function (c)
		return ("%%%02X"):format(c:byte());
	end));
end

local function roster_url_for(username)
	return (roster_url:gsub("%%s", function () return url_encode(username); end));
end

-- Returns a set of group names, or nil and the reason it is malformed.
local function parse_groups(groups)
	local set = {};
	if groups == nil or groups == json.null then
		return set;
	elseif is_json_array(groups) then
		for _, name in ipairs(groups) do
			if type(name) ~= "string" or name == "" then
				return nil, "groups must hold non-empty strings";
			end
			set[name] = true;
		end
	elseif is_json_object(groups) then
		for name, member in pairs(groups) do
			if type(name) ~= "string" or name == "" or type(member) ~= "boolean" then
				return nil, "a groups object must map non-empty names to true or false";
			end
			set[name] = member or nil;
		end
	else
		return nil, "groups must be an array or an object";
	end
	return set;
end

-- Returns a roster item, or nil and the reason the entry is malformed.
local function parse_item(owner_jid, contact, data)
	-- util.json can yield non-string keys (its "__array"/"__hash" extensions).
	local contact_jid = type(contact) == "string" and jid_prep(contact);
	if not contact_jid or jid_resource(contact_jid) then
		return nil, "not a valid bare JID";
	elseif contact_jid == owner_jid then
		return nil, "a user cannot be their own contact";
	elseif not is_json_object(data) then
		return nil, "contact data must be a JSON object";
	end
	local name = data.name;
	if name == json.null or name == "" then
		name = nil;
	elseif name ~= nil and type(name) ~= "string" then
		return nil, "name must be a string";
	end
	local groups, err = parse_groups(data.groups);
	if not groups then return nil, err; end
	return contact_jid, { subscription = "both", name = name, groups = groups };
end

local function parse_roster(username, body)
	local data, err = decode_json(body);
	if not data then return nil, err; end
	if not is_json_object(data) then
		return nil, "expected a JSON object mapping contact JIDs to contact data";
	end
	local owner_jid = username.."@"..module.host;
	local items = {};
	for contact, contact_data in pairs(data) do
		local contact_jid, item = parse_item(owner_jid, contact, contact_data);
		if contact_jid then
			items[contact_jid] = item;
		else
			module:log("warn", "Skipping contact %q in the roster of %s: %s", tostring(contact), username, item);
		end
	end
	return items;
end

local function fetch_error(condition, text)
	return { condition = condition, text = text };
end

-- A rejection is a fetch_error, or a Lua error string if something broke.
local function as_fetch_error(err)
	if type(err) == "table" and err.condition then return err; end
	return fetch_error("internal-server-error", tostring(err));
end

-- net.http in Prosody 0.12 has no per-request timeout, so a timer bounds the wait
-- and cancels the request.
local function request_roster(username)
	return promise.new(function (resolve, reject)
		local settled, timer, request = false, nil, nil;
		local function settle(ok, value)
			if settled then return; end
			settled = true;
			if timer then timer:stop(); end
			if ok then resolve(value); else reject(value); end
		end
		timer = module:add_timer(fetch_timeout, function ()
			settle(false, fetch_error("remote-server-timeout",
				("no answer from the roster service within %g s"):format(fetch_timeout)));
			if request and request.cancel then request:cancel("timeout"); end
		end);
		request = http.request(roster_url_for(username), {
			headers = { Accept = "application/json" };
		}, function (body, code)
			if code == 0 then
				settle(false, fetch_error("internal-server-error",
					"roster service unreachable: "..tostring(body)));
			elseif code ~= 200 then
				settle(false, fetch_error("internal-server-error",
					("roster service answered HTTP %d"):format(code)));
			else
				local items, err = parse_roster(username, body or "");
				if items then
					settle(true, items);
				else
					settle(false, fetch_error("internal-server-error", "roster service sent "..err));
				end
			end
		end);
	end);
end

--- Bounded concurrency: at most max_concurrent requests to the web application

-- Fetches wait in a double-ended queue (queue[queue_head .. queue_tail]): refreshes join
-- at the back, logins at the front, so a client waiting for its roster is not stuck
-- behind a refresh of thousands of users.
local running, queue, queue_head, queue_tail = 0, {}, 1, 0;
-- Fetches are numbered as they start, so that a later number means fresher data.
local last_fetch_seq = 0;

local function start_next_queued()
	if running >= max_concurrent or queue_head > queue_tail then return; end
	local start = queue[queue_head];
	queue[queue_head] = nil;
	queue_head = queue_head + 1;
	running = running + 1;
	start();
end

-- Resolves to { items = roster items, seq = the fetch's number }.
local function fetch_roster(username, urgent)
	return promise.new(function (resolve, reject)
		local function start()
			last_fetch_seq = last_fetch_seq + 1;
			local seq = last_fetch_seq;
			request_roster(username):next(function (items)
				resolve({ items = items, seq = seq });
			end, reject):finally(function ()
				running = running - 1;
				start_next_queued();
			end);
		end
		if urgent then
			queue_head = queue_head - 1;
			queue[queue_head] = start;
		else
			queue_tail = queue_tail + 1;
			queue[queue_tail] = start;
		end
		start_next_queued();
	end);
end

--- Online users' rosters

-- Per online user: `since`, the fetch sequence number when the user came online;
-- `loaded`, the sequence number of the fetch last applied (nil until one is);
-- `loading`, the promise of the fetch a login or roster request is waiting for.
local online = {};

local function user_state(username)
	local state = online[username];
	if not state and bare_sessions[username.."@"..module.host] then
		state = { since = last_fetch_seq };
		online[username] = state;
	end
	return state;
end

local function same_item(a, b)
	if a.name ~= b.name then return false; end
	for group in pairs(a.groups) do
		if not b.groups[group] then return false; end
	end
	for group in pairs(b.groups) do
		if not a.groups[group] then return false; end
	end
	return true;
end

-- Send each available resource's presence to the contacts, or unavailable presence.
local function send_presence_to(user, contacts, unavailable)
	for _, session in pairs(user.sessions) do
		if session.presence then
			for _, contact in ipairs(contacts) do
				local presence = unavailable and st.presence({ type = "unavailable" }) or st.clone(session.presence);
				presence.attr.from, presence.attr.to = session.full_jid, contact;
				module:send(presence, session);
			end
		end
	end
end

-- Replace the roster in place (every resource and mod_presence share this table),
-- push each change to interested resources and tell contacts about presence.
local function apply_roster(username, state, items)
	local user = bare_sessions[username.."@"..module.host];
	if not user then return; end
	local roster = user.roster;
	local previous = {};
	if state.loaded then
		for contact, item in pairs(roster) do
			if contact then previous[contact] = item; end
		end
	end
	for contact in pairs(roster) do
		if contact then roster[contact] = nil; end
	end
	local added, removed, changed = {}, {}, {};
	for contact, item in pairs(items) do
		roster[contact] = item;
		local old = previous[contact];
		if not old then
			added[#added + 1] = contact;
		elseif not same_item(old, item) then
			changed[#changed + 1] = contact;
		end
	end
	for contact in pairs(previous) do
		if not items[contact] then removed[#removed + 1] = contact; end
	end
	if #added + #removed + #changed > 0 then
		local metadata = roster[false];
		metadata.version = (tonumber(metadata.version) or 0) + 1;
	end
	for _, list in ipairs({ added, changed, removed }) do
		for _, contact in ipairs(list) do
			rm_roster_push(username, module.host, contact);
		end
	end
	send_presence_to(user, added, false);
	send_presence_to(user, removed, true);
	module:log("debug", "Roster of %s: %d added, %d changed, %d removed",
		username, #added, #changed, #removed);
end

-- Fetch a user's roster and apply it if the user is still online and no fetch
-- that started later has been applied already. Resolves to true, rejects with the
-- fetch error. `urgent` (a client is waiting) puts the fetch at the front of the queue.
local function fetch_and_apply(username, urgent)
	return fetch_roster(username, urgent):next(function (fetched)
		local state = online[username];
		if state and fetched.seq > (state.loaded or state.since) then
			apply_roster(username, state, fetched.items);
			state.loaded = fetched.seq;
		end
		return true;
	end);
end

-- The fetch that logins and roster requests share while it is in flight.
local function load_roster(username, state)
	if not state.loading then
		local loading = fetch_and_apply(username, true);
		state.loading = loading;
		loading:catch(function (err)
			module:log("warn", "Could not load the roster of %s: %s", username, as_fetch_error(err).text);
		end):finally(function ()
			if state.loading == loading then state.loading = nil; end
		end);
	end
	return state.loading;
end

module:hook("resource-bind", function (event)
	local session = event.session;
	local state = user_state(session.username);
	if state and not state.loaded then
		load_roster(session.username, state);
	end
end);

module:hook("resource-unbind", function (event)
	local username = event.session.username;
	if not bare_sessions[username.."@"..module.host] then
		online[username] = nil;
	end
end, -10);

--- Serving rosters to clients

local function roster_result(stanza, roster)
	local reply = st.reply(stanza):query("jabber:iq:roster");
	reply.tags[1].attr.ver = tostring(roster[false].version or 1);
	for contact, item in pairs(roster) do
		if contact then
			reply:tag("item", { jid = contact, subscription = item.subscription, name = item.name });
			for group in pairs(item.groups) do
				reply:text_tag("group", group);
			end
			reply:up();
		end
	end
	return reply;
end

local function answer_roster_get(origin, stanza, err)
	if origin.destroyed then return; end
	local state = online[origin.username];
	if state and state.loaded then
		origin.send(roster_result(stanza, origin.roster));
		origin.interested = true;
	else
		err = as_fetch_error(err or "roster not loaded");
		origin.send(st.error_reply(stanza, "wait", err.condition, err.text));
	end
end

module:hook("iq/self/jabber:iq:roster:query", function (event)
	local origin, stanza = event.origin, event.stanza;
	if stanza.attr.type == "set" then
		origin.send(st.error_reply(stanza, "cancel", "not-allowed",
			"The roster is managed by an external service"));
		return true;
	end
	local state = user_state(origin.username);
	if not state or state.loaded then
		answer_roster_get(origin, stanza);
		return true;
	end
	local loading = load_roster(origin.username, state);
	-- Waiting in the session's async runner keeps the client's later stanzas
	-- (initial presence) queued until its roster is known.
	if async.ready() then
		local _, err = async.wait_for(loading);
		answer_roster_get(origin, stanza, err);
	else
		loading:next(function ()
			answer_roster_get(origin, stanza);
		end, function (err)
			answer_roster_get(origin, stanza, err);
		end);
	end
	return true;
end, 10);

--- Refresh API for the web application

local function json_response(status_code, data)
	return {
		status_code = status_code;
		headers = { content_type = "application/json" };
		body = json.encode(data);
	};
end

local function bad_request(message)
	return json_response(400, { status = "error", message = message });
end

-- Resolves to true (updated, or offline: nothing to do) or false (failed); never rejects.
local function refresh_user(username)
	local node = nodeprep(username);
	if not node or node == "" then
		module:log("warn", "Refresh asked for %q, which is not a valid username", username);
		return promise.resolve(false);
	end
	if not user_state(node) then
		return promise.resolve(true);
	end
	return fetch_and_apply(node):catch(function (err)
		module:log("warn", "Could not refresh the roster of %s: %s", node, as_fetch_error(err).text);
		return false;
	end);
end

local function refresh_summary(usernames)
	local seen, refreshes = {}, {};
	for _, username in ipairs(usernames) do
		-- "John" and "john" are one user: compare the names Prosody would store.
		local key = nodeprep(username) or username;
		if not seen[key] then
			seen[key] = true;
			refreshes[#refreshes + 1] = refresh_user(username);
		end
	end
	return promise.all(refreshes):next(function (outcomes)
		local updated, errors = 0, 0;
		for _, ok in ipairs(outcomes) do
			if ok then updated = updated + 1; else errors = errors + 1; end
		end
		local failed = errors > 0 and errors == #outcomes;
		return json_response(failed and 500 or 200, {
			status = failed and "error" or "ok";
			message = errors == 0 and "roster update complete"
				or ("%d of %d roster updates failed"):format(errors, #outcomes);
			updated = updated;
			errors = errors;
		});
	end);
end

local function validate_usernames(body)
	if body == nil or body == "" then
		return nil, "empty body: expected a JSON array of usernames";
	end
	local usernames = decode_json(body);
	if not usernames then
		return nil, "body is not valid JSON: expected a JSON array of usernames";
	elseif not is_json_array(usernames) then
		return nil, "body must be a JSON array of usernames";
	end
	for i, username in ipairs(usernames) do
		if type(username) ~= "string" or username == "" then
			return nil, ("item %d of the array is not a non-empty string"):format(i);
		end
	end
	return usernames;
end

local function handle_refresh_post(event)
	local body = event.request.body;
	if body and #body > max_body then
		return json_response(413, { status = "error",
			message = ("body larger than %d bytes"):format(max_body) });
	end
	local usernames, err = validate_usernames(body);
	if not usernames then return bad_request(err); end
	return refresh_summary(usernames);
end

local function handle_refresh_get(_, username)
	if not username or username == "" then
		return bad_request("missing username: use /roster_admin/refresh/<username>");
	elseif not nodeprep(username) then
		return bad_request("not a valid username");
	end
	return refresh_summary({ username });
end

module:provides("http", {
	name = "roster_admin";
	default_path = "/roster_admin";
	route = {
		["POST /refresh"] = handle_refresh_post;
		["GET /refresh/*"] = handle_refresh_get;
	};
});
