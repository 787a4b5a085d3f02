-- Copyright (C) 2026 the prosody-harness authors
--
-- This project is MIT licensed. Please see pyproject.toml at the root of the
-- repository for the licence.
--
-- mod_http_roster_admin: users' rosters live in an external web application.
--
-- Rosters are fetched over HTTP when a user comes online, served to the user's clients from
-- memory, and fetched again when the web application POSTs the names of users whose rosters
-- changed. Clients cannot edit the roster. See README.markdown for the protocol and the design
-- decisions, and docs/performance.md for what a refresh costs.

local async = require "util.async";
local errors = require "util.error";
local json = require "util.json";
local jid_prep = require "util.jid".prep;
local jid_resource = require "util.jid".resource;
local nodeprep = require "util.encodings".stringprep.nodeprep;
local promise = require "util.promise";
local rm_roster_push = require "core.rostermanager".roster_push;
local st = require "util.stanza";
local time_now = require "util.time".now;

local host = module.host;
local host_sessions = prosody.hosts[host].sessions; -- username -> the user's sessions and roster
local json_null = json.null;
local ipairs, next, pairs, tostring, type = ipairs, next, pairs, tostring, type;

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
local pooled_http = module:require "pooled_http";

-- Why a fetch failed: roster requests get the type and condition, the log gets the text
-- (a format filled in by fetch_error).
local fetch_errors = errors.init(module.name, {
	["timeout"] = { type = "wait", condition = "remote-server-timeout",
		text = "no answer from the roster service within %g s" };
	["unreachable"] = { type = "wait", condition = "internal-server-error",
		text = "roster service unreachable: %s" };
	["http-status"] = { type = "wait", condition = "internal-server-error",
		text = "roster service answered HTTP %d" };
	["bad-roster"] = { type = "wait", condition = "internal-server-error",
		text = "roster service sent %s" };
	["not-loaded"] = { type = "wait", condition = "internal-server-error",
		text = "roster not loaded" };
	["internal"] = { type = "wait", condition = "internal-server-error",
		text = "%s" };
});

local function fetch_error(name, ...)
	local err = fetch_errors.new(name);
	err.text = err.text:format(...);
	return err;
end

-- The web application, over at most max_concurrent connections kept open between fetches (see
-- pooled_http.lib.lua). A URL whose host depends on the username cannot share connections.
local roster_base, roster_path = pooled_http.split_url(roster_url);
if not roster_base or roster_base:find("%s", 1, true) then
	roster_base, roster_path = "", roster_url;
end
local roster_service = pooled_http.new(roster_base, {
	headers = { Accept = "application/json" };
	max_idle = max_concurrent;
});

-- JSON --------------------------------------------------------------------------------------------

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

-- Reading a roster document -----------------------------------------------------------------------

-- Whether a groups array holds exactly the names of the set `old`.
local function array_matches(groups, old)
	for _, name in ipairs(groups) do
		if not old[name] then return false; end
	end
	for name in pairs(old) do
		local found = false;
		for _, listed in ipairs(groups) do
			if listed == name then found = true; break; end
		end
		if not found then return false; end
	end
	return true;
end

-- Whether a groups object (names mapped to booleans) names exactly the set `old`.
local function object_matches(groups, old)
	for name, member in pairs(groups) do
		if member ~= (old[name] == true) then return false; end
	end
	for name in pairs(old) do
		if groups[name] ~= true then return false; end
	end
	return true;
end

-- The set of group names `groups` describes (an array, an object used as a set, or nothing),
-- or nil and what is wrong with it. `old`, the contact's current set, is returned itself when
-- it holds the same names, so an unchanged contact costs no new table.
local function parse_groups(groups, old)
	if groups == nil or groups == json_null then
		return (old and next(old) == nil) and old or {};
	elseif is_json_array(groups) then
		for _, name in ipairs(groups) do
			if type(name) ~= "string" or name == "" then
				return nil, "groups must hold non-empty strings";
			end
		end
		if old and array_matches(groups, old) then return old; end
		local set = {};
		for _, name in ipairs(groups) do set[name] = true; end
		return set;
	elseif is_json_object(groups) then
		for name, member in pairs(groups) do
			if type(name) ~= "string" or name == "" or type(member) ~= "boolean" then
				return nil, "a groups object must map non-empty names to true or false";
			end
		end
		if old and object_matches(groups, old) then return old; end
		local set = {};
		for name, member in pairs(groups) do set[name] = member or nil; end
		return set;
	end
	return nil, "groups must be an array or an object";
end

-- The contact's prepped JID and roster item, or nil and why the entry is malformed. `current`
-- is the user's roster when it is loaded: its keys are prepped JIDs already, and an unchanged
-- contact keeps its item (the same table).
local function parse_item(owner_jid, contact, data, current)
	-- util.json can yield non-string keys (its "__array"/"__hash" extensions).
	if type(contact) ~= "string" then return nil, "not a valid bare JID"; end
	local contact_jid = contact;
	if not (current and current[contact]) then
		contact_jid = jid_prep(contact);
		if not contact_jid or jid_resource(contact_jid) then
			return nil, "not a valid bare JID";
		end
	end
	if contact_jid == owner_jid then
		return nil, "a user cannot be their own contact";
	elseif not is_json_object(data) then
		return nil, "contact data must be a JSON object";
	end
	local name = data.name;
	if name == json_null or name == "" then
		name = nil;
	elseif name ~= nil and type(name) ~= "string" then
		return nil, "name must be a string";
	end
	local old = current and current[contact_jid];
	local groups, err = parse_groups(data.groups, old and old.groups);
	if not groups then return nil, err; end
	if old and old.name == name and old.groups == groups then
		return contact_jid, old;
	end
	return contact_jid, { subscription = "both", name = name, groups = groups };
end

-- Most roster documents are plain: an object of contacts, each an object holding at most "name"
-- (a string or null) and "groups" (an array of strings, an object of true/false, or null), every
-- contact valid, no string with an escape. read_plain_roster reads such a document where it lies,
-- building nothing for unchanged contacts; for anything else (escapes, numbers, other fields,
-- nesting, duplicate keys, invalid entries, malformed JSON) it returns nil and parse_roster
-- decodes the document with util.json, with the same result for plain documents.
local WHITESPACE, PLAIN_STRING = "^[ \t\r\n]*()", '^"([^"\\]*)"()';
local scratch_names, scratch_flags = {}, {}; -- one contact's groups, reused

-- Reads a groups value at `pos` into scratch_names (and scratch_flags for an object): its kind
-- ("array", "object" or "null"), the position after it and the number of names.
local function read_plain_groups(body, pos)
	local opening = body:byte(pos);
	if opening == 110 then -- n
		if body:find("^null", pos) then return "null", pos + 4, 0; end
		return nil;
	elseif opening ~= 91 and opening ~= 123 then -- [ {
		return nil;
	end
	local closing, count = opening + 2, 0; -- ] or }
	pos = body:match(WHITESPACE, pos + 1);
	if body:byte(pos) == closing then
		return opening == 91 and "array" or "object", pos + 1, 0;
	end
	while true do
		local name, after = body:match(PLAIN_STRING, pos);
		if not name or name == "" then return nil; end
		count = count + 1;
		scratch_names[count] = name;
		pos = body:match(WHITESPACE, after);
		if opening == 123 then
			if body:byte(pos) ~= 58 then return nil; end -- :
			pos = body:match(WHITESPACE, pos + 1);
			if body:find("^true", pos) then
				scratch_flags[count], pos = true, pos + 4;
			elseif body:find("^false", pos) then
				scratch_flags[count], pos = false, pos + 5;
			else
				return nil;
			end
			for i = 1, count - 1 do -- a name given twice: util.json's rules decide
				if scratch_names[i] == name then return nil; end
			end
			pos = body:match(WHITESPACE, pos);
		end
		local separator = body:byte(pos);
		if separator == closing then
			return opening == 91 and "array" or "object", pos + 1, count;
		elseif separator ~= 44 then -- ,
			return nil;
		end
		pos = body:match(WHITESPACE, pos + 1);
	end
end

-- Whether the scratch groups name exactly the set `old`.
local function scratch_matches(kind, count, old)
	local members = 0;
	for i = 1, count do
		local member = kind == "array" or scratch_flags[i];
		if member ~= (old[scratch_names[i]] == true) then return false; end
		if member then members = members + 1; end
	end
	if kind == "object" or members == 0 then
		-- Names are distinct in an object: the count of members settles it.
		local size = 0;
		for _ in pairs(old) do size = size + 1; end
		return size == members;
	end
	for name in pairs(old) do -- an array may repeat a name
		local found = false;
		for i = 1, count do
			if scratch_names[i] == name then found = true; break; end
		end
		if not found then return false; end
	end
	return true;
end

local function scratch_set(kind, count)
	local set = {};
	for i = 1, count do
		if kind == "array" or scratch_flags[i] then set[scratch_names[i]] = true; end
	end
	return set;
end

-- The two commonest contact shapes, each read with one pattern: {"name": "...", "groups":
-- ["..."]} and {"name": "..."}.
local NAME_AND_GROUP = ('^{_"name"_:_"([^"\\]*)"_,_"groups"_:_%[_"([^"\\]*)"_%]_}()'):gsub("_", "[ \t\r\n]*");
local NAME_ONLY = ('^{_"name"_:_"([^"\\]*)"_}()'):gsub("_", "[ \t\r\n]*");

-- Reads a contact object at `pos`: the position after it, its name (nil, json.null or a string),
-- and the kind and count of its groups (nil when absent).
local function read_plain_contact(body, pos)
	local name, group, after = body:match(NAME_AND_GROUP, pos);
	if name and group ~= "" then
		scratch_names[1] = group;
		return after, name, "array", 1;
	end
	name, after = body:match(NAME_ONLY, pos);
	if name then return after, name; end
	local kind, count, name_seen;
	pos = body:match(WHITESPACE, pos + 1);
	if body:byte(pos) == 125 then return pos + 1; end -- }
	while true do
		local key, key_end = body:match(PLAIN_STRING, pos);
		if not key then return nil; end
		pos = body:match(WHITESPACE, key_end);
		if body:byte(pos) ~= 58 then return nil; end -- :
		pos = body:match(WHITESPACE, pos + 1);
		if key == "name" and not name_seen then
			name_seen = true;
			if body:find("^null", pos) then
				name, pos = json_null, pos + 4;
			else
				name, pos = body:match(PLAIN_STRING, pos);
				if not name then return nil; end
			end
		elseif key == "groups" and not kind then
			kind, pos, count = read_plain_groups(body, pos);
			if not kind then return nil; end
		else
			return nil;
		end
		pos = body:match(WHITESPACE, pos);
		local separator = body:byte(pos);
		if separator == 125 then return pos + 1, name, kind, count; end
		if separator ~= 44 then return nil; end
		pos = body:match(WHITESPACE, pos + 1);
	end
end

local function read_plain_roster(username, body, current)
	local pos = body:match(WHITESPACE, 1);
	if body:byte(pos) ~= 123 then return nil; end -- {
	pos = body:match(WHITESPACE, pos + 1);
	local owner_jid = username.."@"..host;
	local items = {};
	if body:byte(pos) == 125 then -- {}
		return body:find("^[ \t\r\n]*$", pos + 1) and items or nil;
	end
	while true do
		local contact, after = body:match(PLAIN_STRING, pos);
		if not contact then return nil; end
		pos = body:match(WHITESPACE, after);
		if body:byte(pos) ~= 58 then return nil; end -- :
		pos = body:match(WHITESPACE, pos + 1);
		if body:byte(pos) ~= 123 then return nil; end -- {
		local name, kind, count;
		pos, name, kind, count = read_plain_contact(body, pos);
		if not pos then return nil; end

		local contact_jid = contact;
		if not (current and current[contact]) then
			contact_jid = jid_prep(contact);
			if not contact_jid or jid_resource(contact_jid) or contact == "__array" or contact == "__hash" then
				return nil;
			end
		end
		if contact_jid == owner_jid or items[contact_jid] then return nil; end
		if name == json_null or name == "" then name = nil; end
		local old = current and current[contact_jid];
		local groups;
		if not kind or kind == "null" or count == 0 then
			groups = (old and next(old.groups) == nil) and old.groups or {};
		elseif old and scratch_matches(kind, count, old.groups) then
			groups = old.groups;
		else
			groups = scratch_set(kind, count);
		end
		if old and old.name == name and old.groups == groups then
			items[contact_jid] = old;
		else
			items[contact_jid] = { subscription = "both", name = name, groups = groups };
		end

		pos = body:match(WHITESPACE, pos);
		local separator = body:byte(pos);
		if separator == 125 then -- }
			return body:find("^[ \t\r\n]*$", pos + 1) and items or nil;
		elseif separator ~= 44 then -- ,
			return nil;
		end
		pos = body:match(WHITESPACE, pos + 1);
	end
end

-- The roster's items keyed by contact JID, or nil and what is wrong with the document.
local function parse_roster(username, body, current)
	local plain = read_plain_roster(username, body, current);
	if plain then return plain; end
	local data, err = decode_json(body);
	if not data then return nil, err; end
	if not is_json_object(data) then
		return nil, "expected a JSON object mapping contact JIDs to contact data";
	end
	local owner_jid = username.."@"..host;
	local items = {};
	for contact, contact_data in pairs(data) do
		local contact_jid, item = parse_item(owner_jid, contact, contact_data, current);
		if contact_jid then
			items[contact_jid] = item;
		else
			module:log("warn", "Skipping contact %q in the roster of %s: %s", tostring(contact), username, item);
		end
	end
	return items;
end

-- Online users' rosters ---------------------------------------------------------------------------

-- Per online user: `since`, the fetch sequence number when the user came online; `loaded`, the
-- sequence number of the fetch last applied (nil until one is); `loading`, true while a login or
-- roster request waits for a fetch; `waiters`, what to call when that fetch ends.
local online = {};
-- Fetches are numbered as they start, so that a later number means fresher data.
local last_fetch_seq = 0;

local function user_state(username)
	local state = online[username];
	if not state and host_sessions[username] then
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

local function append(list, value)
	list = list or {};
	list[#list + 1] = value;
	return list;
end

-- Send each available resource's presence to the contacts, or unavailable presence. As
-- mod_presence does for its broadcasts, one stanza goes to every contact with its addresses set
-- for each (whatever keeps a stanza clones it), and the resource's presence gets them back.
local function send_presence_to(user, contacts, unavailable)
	if not contacts then return; end
	local offline = unavailable and st.presence({ type = "unavailable" });
	for _, session in pairs(user.sessions) do
		local presence = session.presence;
		if presence then
			local outgoing = offline or presence;
			local attr = outgoing.attr;
			local from, to = attr.from, attr.to;
			for _, contact in ipairs(contacts) do
				attr.from, attr.to = session.full_jid, contact;
				module:send(outgoing, session);
			end
			attr.from, attr.to = from, to;
		end
	end
end

local function push_all(username, contacts)
	if not contacts then return; end
	for _, contact in ipairs(contacts) do
		rm_roster_push(username, host, contact);
	end
end

-- Replace the roster in place (every resource and mod_presence share this table), push each
-- change to interested resources and tell contacts about presence. Before the first fetch is
-- applied, whatever the roster held (from storage) is replaced without a push.
local function apply_roster(username, state, items)
	local user = host_sessions[username];
	if not user then return; end
	local roster = user.roster;
	local loaded = state.loaded ~= nil;
	local added, changed, removed;
	for contact in pairs(roster) do
		if contact and items[contact] == nil then
			if loaded then removed = append(removed, contact); end
			roster[contact] = nil;
		end
	end
	for contact, item in pairs(items) do
		local old = roster[contact];
		if not old or not loaded then
			added = append(added, contact);
		elseif old ~= item and not same_item(old, item) then
			changed = append(changed, contact);
		end
		roster[contact] = item;
	end
	if added or changed or removed then
		local metadata = roster[false];
		metadata.version = (tonumber(metadata.version) or 0) + 1;
	end
	push_all(username, added);
	push_all(username, changed);
	push_all(username, removed);
	send_presence_to(user, added, false);
	send_presence_to(user, removed, true);
	module:log("debug", "Roster of %s: %d added, %d changed, %d removed",
		username, added and #added or 0, changed and #changed or 0, removed and #removed or 0);
end

local function apply_if_fresh(username, seq, items)
	local state = online[username];
	if state and seq > (state.loaded or state.since) then
		apply_roster(username, state, items);
		state.loaded = seq;
	end
end

-- Apply a fetched roster if the user is still online and no fetch that started later has been
-- applied already (nor did this one start before the user's current login). Returns nil, or
-- the error that stopped it (a hook of another module that failed on a push, say): the caller
-- still answers whoever waits.
local function apply_fetched(username, seq, items)
	local ok, problem = pcall(apply_if_fresh, username, seq, items);
	if not ok then return fetch_error("internal", tostring(problem)); end
end

-- Fetching rosters, at most max_concurrent at once ------------------------------------------------

-- A fetch: { username, owner, done = function (owner, fetch, items, err) }; when it starts it
-- also gets `seq`, `deadline` and `request`. Waiting fetches sit in a double-ended
-- queue (queue[queue_head .. queue_tail]): refreshes join at the back, logins at the front, so a
-- client waiting for its roster is not stuck behind a refresh of thousands of users.
local running, queue, queue_head, queue_tail = 0, {}, 1, 0;
-- Fetches in flight; one timer, armed while there are any, ends those past their deadline
-- (net.http has no per-request timeout in 0.12 or 13).
local in_flight = {};
local timeout_timer_armed = false;

-- Percent-encode every byte outside RFC 3986's unreserved set, so that no
-- username can alter the path or add a query to the URL.
local function url_encode(text)
	return (text:gsub("[^A-Za-z0-9%-%._~]", function (c)
		return ("%%%02X"):format(c:byte());
	end));
end

-- The request target (path and query, or the whole URL when not pooled) of a user's roster.
local function roster_target(username)
	return (roster_path:gsub("%%s", function () return url_encode(username); end));
end

local start_next_queued; -- forward declaration

-- The fetch no longer holds one of the max_concurrent slots: the next one starts.
local function release(fetch)
	if fetch.released then return; end
	fetch.released = true;
	in_flight[fetch] = nil;
	running = running - 1;
	start_next_queued();
end

local function finish(fetch, items, err)
	if fetch.finished then return; end
	fetch.finished = true;
	release(fetch);
	fetch.done(fetch.owner, fetch, items, err);
end

local function received(fetch, body, code)
	if fetch.finished then return; end
	release(fetch); -- the next fetch goes out while this answer is read
	if code == 0 then
		return finish(fetch, nil, fetch_error("unreachable", tostring(body)));
	elseif code ~= 200 then
		return finish(fetch, nil, fetch_error("http-status", code));
	end
	local state = online[fetch.username];
	local user = state and state.loaded and host_sessions[fetch.username];
	local items, err = parse_roster(fetch.username, body or "", user and user.roster);
	if not items then
		return finish(fetch, nil, fetch_error("bad-roster", err));
	end
	return finish(fetch, items);
end

local function expire_fetches(now)
	local expired;
	for fetch in pairs(in_flight) do
		if fetch.deadline <= now then expired = append(expired, fetch); end
	end
	for _, fetch in ipairs(expired or {}) do
		finish(fetch, nil, fetch_error("timeout", fetch_timeout));
		local request = fetch.request;
		if request and request.cancel then request:cancel("timeout"); end
	end
	local next_deadline;
	for fetch in pairs(in_flight) do
		if not next_deadline or fetch.deadline < next_deadline then next_deadline = fetch.deadline; end
	end
	if not next_deadline then
		timeout_timer_armed = false;
		return nil;
	end
	return math.max(next_deadline - now, 0.001);
end

local function start_fetch(fetch)
	running = running + 1;
	last_fetch_seq = last_fetch_seq + 1;
	fetch.seq = last_fetch_seq;
	fetch.deadline = time_now() + fetch_timeout;
	in_flight[fetch] = true;
	if not timeout_timer_armed then
		timeout_timer_armed = true;
		module:add_timer(fetch_timeout, expire_fetches);
	end
	fetch.request = roster_service:get(roster_target(fetch.username), received, fetch);
end

local function run_queue()
	while running < max_concurrent and queue_head <= queue_tail do
		local fetch = queue[queue_head];
		queue[queue_head] = nil;
		queue_head = queue_head + 1;
		start_fetch(fetch);
	end
end

-- A fetch that fails at once (net.http calls back before it returns) finishes inside
-- run_queue, whose loop then goes on: it is not entered again.
local draining = false;
function start_next_queued()
	if draining then return; end
	draining = true;
	local ok, err = pcall(run_queue);
	draining = false;
	if not ok then error(err, 0); end
end

local function queue_fetch(username, done, owner, urgent)
	local fetch = { username = username, done = done, owner = owner };
	if urgent then
		queue_head = queue_head - 1;
		queue[queue_head] = fetch;
	else
		queue_tail = queue_tail + 1;
		queue[queue_tail] = fetch;
	end
	start_next_queued();
end

-- Loading a roster at login -----------------------------------------------------------------------

local function login_fetched(state, fetch, items, err)
	state.loading = nil;
	if items then err = apply_fetched(fetch.username, fetch.seq, items); end
	if err then
		module:log("warn", "Could not load the roster of %s: %s", fetch.username, err.text);
	end
	local waiters = state.waiters;
	state.waiters = nil;
	for _, waiter in ipairs(waiters or {}) do
		waiter(err);
	end
end

-- One fetch is shared by the login and every roster request made while it is in flight; it
-- goes ahead of queued refresh fetches.
local function load_roster(username, state, waiter)
	if waiter then state.waiters = append(state.waiters, waiter); end
	if not state.loading then
		state.loading = true;
		queue_fetch(username, login_fetched, state, true);
	end
end

-- Serving rosters to clients ----------------------------------------------------------------------

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
		origin.send(st.error_reply(stanza, err or fetch_errors.new("not-loaded")));
	end
end

local function handle_roster_query(event)
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
	-- Waiting in the session's async runner keeps the client's later stanzas (initial
	-- presence) queued until its roster is known.
	if async.ready() then
		local wait, done = async.waiter();
		local failure;
		load_roster(origin.username, state, function (err) failure = err; done(); end);
		wait();
		answer_roster_get(origin, stanza, failure);
	else
		load_roster(origin.username, state, function (err) answer_roster_get(origin, stanza, err); end);
	end
	return true;
end

local function handle_resource_bind(event)
	local username = event.session.username;
	local state = user_state(username);
	if state and not state.loaded then
		load_roster(username, state);
	end
end

local function handle_resource_unbind(event)
	local username = event.session.username;
	if not host_sessions[username] then
		online[username] = nil;
	end
end

-- Refresh API for the web application -------------------------------------------------------------

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

-- Every user failed: a 500, unless every failure was a name that is not a valid username,
-- which is the caller's mistake (400: sending it again cannot help).
local function summary_response(batch)
	local updated, errors_count, total = batch.updated, batch.errors, batch.total;
	local failed = errors_count > 0 and errors_count == total;
	local status_code = 200;
	if failed then status_code = batch.invalid == errors_count and 400 or 500; end
	return json_response(status_code, {
		status = failed and "error" or "ok";
		message = errors_count == 0 and "roster update complete"
			or ("%d of %d roster updates failed"):format(errors_count, total);
		updated = updated;
		errors = errors_count;
	});
end

local function refresh_fetched(batch, fetch, items, err)
	if items then err = apply_fetched(fetch.username, fetch.seq, items); end
	if not err then
		batch.updated = batch.updated + 1;
	else
		module:log("warn", "Could not refresh the roster of %s: %s", fetch.username, err.text);
		batch.errors = batch.errors + 1;
	end
	batch.pending = batch.pending - 1;
	if batch.pending == 0 and batch.resolve then
		batch.resolve(summary_response(batch));
	end
end

-- Counts every distinct user once ("John" and "john" are one user: names are compared as
-- Prosody stores them). Offline users count as updated at once: their roster is fetched at
-- their next login. Only online users' rosters are fetched, so an offline name costs a
-- stringprep and a table slot.
local function refresh(usernames)
	local batch = { total = 0, updated = 0, errors = 0, invalid = 0, pending = 0 };
	local seen = {};
	for _, username in ipairs(usernames) do
		local node = nodeprep(username);
		local key = node or username;
		if not seen[key] then
			seen[key] = true;
			batch.total = batch.total + 1;
			if not node or node == "" then
				module:log("warn", "Refresh asked for %q, which is not a valid username", username);
				batch.errors, batch.invalid = batch.errors + 1, batch.invalid + 1;
			elseif user_state(node) then
				batch.pending = batch.pending + 1;
				queue_fetch(node, refresh_fetched, batch, false);
			else
				batch.updated = batch.updated + 1;
			end
		end
	end
	if batch.pending == 0 then
		return summary_response(batch);
	end
	return promise.new(function (resolve)
		if batch.pending == 0 then return resolve(summary_response(batch)); end
		batch.resolve = resolve;
	end);
end

-- A refresh body that is a plain array of non-empty strings without escapes, read where it
-- lies; nil for anything else (util.json and validate_usernames then say what is wrong).
local function read_plain_names(body)
	local pos = body:match(WHITESPACE, 1);
	if body:byte(pos) ~= 91 then return nil; end -- [
	pos = body:match(WHITESPACE, pos + 1);
	local names, count = {}, 0;
	if body:byte(pos) == 93 then -- []
		return body:find("^[ \t\r\n]*$", pos + 1) and names or nil;
	end
	while true do
		local name, after = body:match(PLAIN_STRING, pos);
		if not name or name == "" then return nil; end
		count = count + 1;
		names[count] = name;
		pos = body:match(WHITESPACE, after);
		local separator = body:byte(pos);
		if separator == 93 then -- ]
			return body:find("^[ \t\r\n]*$", pos + 1) and names or nil;
		elseif separator ~= 44 then -- ,
			return nil;
		end
		pos = body:match(WHITESPACE, pos + 1);
	end
end

local function validate_usernames(body)
	if body == nil or body == "" then
		return nil, "empty body: expected a JSON array of usernames";
	end
	local plain = read_plain_names(body);
	if plain then return plain; end
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
	return refresh(usernames);
end

local function handle_refresh_get(_, username)
	if not username or username == "" then
		return bad_request("missing username: use /roster_admin/refresh/<username>");
	elseif not nodeprep(username) then
		return bad_request("not a valid username");
	end
	return refresh({ username });
end

function module.unload()
	roster_service:close();
end

-- Hooks -------------------------------------------------------------------------------------------

module:hook("resource-bind", handle_resource_bind);
module:hook("resource-unbind", handle_resource_unbind, -10);
-- Ahead of mod_roster (priority 0), should both be loaded.
module:hook("iq/self/jabber:iq:roster:query", handle_roster_query, 10);

module:provides("http", {
	name = "roster_admin";
	default_path = "/roster_admin";
	route = {
		["POST /refresh"] = handle_refresh_post;
		["GET /refresh/*"] = handle_refresh_get;
	};
});
