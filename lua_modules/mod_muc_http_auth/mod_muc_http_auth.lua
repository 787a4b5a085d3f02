-- Copyright (C) 2026 the prosody-harness authors
--
-- This project is MIT licensed. Please see pyproject.toml at the root of the
-- repository for the licence.
--
-- mod_muc_http_auth: ask an external HTTP service whether a user may join a MUC room.
--
-- Loaded on a MUC component. Before a join (and before the room a join would create is created)
-- the module GETs muc_http_auth_url?userJID=..&mucJID=..&nickname=.. and lets the join through
-- only when the service answers 2xx with a JSON body whose "allowed" is the JSON value true. The
-- join stanza is held while the service thinks and handed back to mod_muc afterwards, so the
-- user's other traffic keeps flowing. See README.markdown, and docs/performance.md for what a
-- join costs.

local cache = require "util.cache";
local certmanager = require "core.certmanager";
local errors = require "util.error";
local json = require "util.json";
local jid_split = require "util.jid".split;
local jid_bare = require "util.jid".bare;
local st = require "util.stanza";
local time_now = require "util.time".now;
local urlencode = require "util.http".urlencode;

local pooled_http = module:require "pooled_http";
local mod_muc = module:depends("muc");

local pairs, rawequal, tostring, type = pairs, rawequal, tostring, type;

local DEFAULT_TIMEOUT = 5;
local DEFAULT_CACHE_SIZE = 1000;

-- What a refused user is told: the room's not-authorized, never the service's reason (that is
-- written for the operator's log, and may say more than a user should see).
local join_errors = errors.init(module.name, {
	["not-authorized"] = { type = "auth", condition = "not-authorized" };
});

-- Configuration -----------------------------------------------------------------------------------

local config_errors = {};

local function config_error(fmt, ...)
	config_errors[#config_errors + 1] = fmt:format(...);
end

-- A room list is either a list of room names, or a map from a user's host (or "all") to a
-- list of room names. Both are turned into the map form: host -> set of room names.
local function is_string_list(value)
	if type(value) ~= "table" then return false; end
	local count = 0;
	for key, item in pairs(value) do
		if type(key) ~= "number" or type(item) ~= "string" then return false; end
		count = count + 1;
	end
	return count == #value;
end

local function to_set(option_name, list)
	local names = {};
	for _, name in ipairs(list) do
		if name:find("@", 1, true) then
			module:log("warn", "%s lists %q: use the room's node part only (the text before '@')",
				option_name, name);
		end
		names[name] = true;
	end
	return names;
end

local function read_room_list(option_name)
	local value = module:get_option(option_name);
	if value == nil then return nil; end
	if type(value) == "string" then
		value = { value }; -- one room, as Prosody's list options accept
	end
	if is_string_list(value) then
		return { all = to_set(option_name, value) };
	end
	if type(value) ~= "table" then
		config_error("%s must be a list of room names or a map of host -> list of room names", option_name);
		return nil;
	end
	local by_host = {};
	for host, rooms in pairs(value) do
		if type(host) ~= "string" or not is_string_list(rooms) then
			config_error("%s: every key must be a host name or \"all\" and every value a list of room names",
				option_name);
			return nil;
		end
		by_host[host] = to_set(option_name, rooms);
	end
	return by_host;
end

local function read_number(option_name, default, allow_zero, unit)
	local value = module:get_option(option_name, default);
	local number = tonumber(value);
	if not number or number < 0 or (number == 0 and not allow_zero) then
		config_error("%s must be a %s number (%s), got %s", option_name,
			allow_zero and "non-negative" or "positive", unit, tostring(value));
		return default;
	end
	return number;
end

local auth_url = module:get_option("muc_http_auth_url", "");
if type(auth_url) ~= "string" or not auth_url:match("^https?://.") then
	config_error("muc_http_auth_url must be an http:// or https:// URL, got %q", tostring(auth_url));
	auth_url = "http://invalid.";
end

local enabled_for = read_room_list("muc_http_auth_enabled_for");
local disabled_for = read_room_list("muc_http_auth_disabled_for");
if enabled_for and disabled_for then
	config_error("muc_http_auth_enabled_for and muc_http_auth_disabled_for are both set; set only one");
end

local authorization_header = module:get_option("muc_http_auth_authorization_header");
if authorization_header ~= nil and type(authorization_header) ~= "string" then
	config_error("muc_http_auth_authorization_header must be a string");
	authorization_header = nil;
end

local insecure = module:get_option("muc_http_auth_insecure", false);
if type(insecure) ~= "boolean" then
	config_error("muc_http_auth_insecure must be true or false");
	insecure = false;
end

local timeout = read_number("muc_http_auth_timeout", DEFAULT_TIMEOUT, false, "seconds");
local cache_ttl = read_number("muc_http_auth_cache_ttl", 0, true, "seconds, 0 turns the cache off");
local cache_size = read_number("muc_http_auth_cache_size", DEFAULT_CACHE_SIZE, false, "entries");

-- With a broken configuration nobody can tell which rooms are protected, so every join on
-- this component is refused (fail closed) until the configuration is fixed.
local misconfigured = #config_errors > 0;
for _, message in ipairs(config_errors) do
	module:log("error", "Configuration error, refusing every join on %s: %s", module.host, message);
end

-- The service, over connections kept open between questions (see pooled_http.lib.lua). An
-- insecure request skips net.http's checks of the chain and the name; on 13 the handshake itself
-- verifies the chain unless the context says otherwise, so it gets a context of its own (made by
-- certmanager: 13 takes no plain table of settings).
local service_base, service_path = pooled_http.split_url(auth_url);
local query_separator = service_path:find("?", 1, true) and "&" or "?";
local service = pooled_http.new(service_base, {
	headers = { Accept = "application/json", Authorization = authorization_header };
	insecure = insecure or nil;
	sslctx = insecure and certmanager.create_context(module.host .. " muc_http_auth", "client",
		{ verify = "none" }) or nil;
});

local decisions = cache_ttl > 0 and cache.new(math.floor(cache_size)) or nil;

-- Which rooms ask the service ---------------------------------------------------------------------

local function listed(by_host, user_host, room_name)
	local for_host, for_all = by_host[user_host], by_host.all;
	return (for_host and for_host[room_name]) or (for_all and for_all[room_name]) or false;
end

local function is_protected(room_jid, user_host)
	local room_name = jid_split(room_jid);
	if enabled_for then
		return listed(enabled_for, user_host, room_name);
	elseif disabled_for then
		return not listed(disabled_for, user_host, room_name);
	end
	return true;
end

-- What the service said ---------------------------------------------------------------------------

-- The answer the service almost always gives, recognised without decoding: util.json reads it as
-- { allowed = true, error = <a string> } too.
local PLAIN_YES = '^[ \t\r\n]*{[ \t\r\n]*"allowed"[ \t\r\n]*:[ \t\r\n]*true[ \t\r\n]*,[ \t\r\n]*'
	..'"error"[ \t\r\n]*:[ \t\r\n]*"[^"\\]*"[ \t\r\n]*}[ \t\r\n]*$';
local PLAIN_BARE_YES = '^[ \t\r\n]*{[ \t\r\n]*"allowed"[ \t\r\n]*:[ \t\r\n]*true[ \t\r\n]*}[ \t\r\n]*$';

-- Turns the service's answer into (allowed, reason, definitive). `definitive` is true for an
-- answer the service meant (cacheable), false for a fault.
local function judge(body, code)
	if code == 0 then
		return false, ("service unreachable (%s)"):format(tostring(body)), false;
	end
	local success = type(code) == "number" and code >= 200 and code <= 299;
	if success and body and (body:find(PLAIN_YES) or body:find(PLAIN_BARE_YES)) then
		return true, "allowed", true;
	end
	local ok, answer = pcall(json.decode, body or "");
	if not ok or type(answer) ~= "table" then answer = nil; end
	local why = answer and type(answer.error) == "string" and answer.error ~= "" and answer.error or nil;
	local said = why and (" (service said: " .. why .. ")") or "";
	if not success then
		return false, ("service answered HTTP %s%s"):format(tostring(code), said), false;
	end
	if not answer then
		return false, "service answer is not a JSON object", false;
	end
	local value = answer.allowed;
	if rawequal(value, true) then
		return true, "allowed", true;
	elseif rawequal(value, false) then
		return false, "service refused" .. (why and (": " .. why) or ""), true;
	end
	local problem = value == nil and "\"allowed\" is missing"
		or ("\"allowed\" is %s, not true"):format(value == json.null and "null" or ("a " .. type(value)));
	return false, ("bad service answer: %s%s"):format(problem, said), false;
end

-- Decisions ---------------------------------------------------------------------------------------

local function cache_key(user_jid, room_jid, nickname)
	return user_jid .. "\0" .. room_jid .. "\0" .. nickname;
end

local function cached_decision(key)
	local entry = decisions:get(key);
	if entry and entry.expires > time_now() then
		return entry.allowed, entry.reason;
	end
	return nil;
end

local function remember(key, allowed, reason)
	decisions:set(key, { allowed = allowed, reason = reason, expires = time_now() + cache_ttl });
end

local function refuse(origin, stanza, room_jid, reason, level)
	module:log(level, "Refused %s joining %s as %q: %s", stanza.attr.from, room_jid,
		select(3, jid_split(stanza.attr.to)) or "", reason);
	origin.send(st.error_reply(stanza, join_errors.new("not-authorized", { by = room_jid })));
end

-- Holding joins while the service decides ---------------------------------------------------------

-- Join stanzas the service approved, on their way back through mod_muc.
local approved = setmetatable({}, { __mode = "k" });
-- The join each session is waiting on, per room: real JID .. "\0" .. room JID -> held join.
local waiting = {};
-- Held joins whose question is in flight; one timer, armed while there are any, refuses those
-- past their deadline (net.http has no per-request timeout in 0.12 or 13).
local in_flight = {};
local timeout_timer_armed = false;

local function replay_join(join)
	local origin, stanza = join.origin, join.stanza;
	if origin.destroyed then
		module:log("debug", "%s went away before joining %s was approved", stanza.attr.from, join.room_jid);
		return;
	end
	approved[stanza] = true;
	module:fire_event("presence/full", { origin = origin, stanza = stanza });
end

local function decide(join, allowed, reason, definitive)
	if join.decided then return; end
	join.decided = true;
	in_flight[join] = nil;
	if waiting[join.waiting_key] == join then waiting[join.waiting_key] = nil; end
	if definitive and join.cache_key then remember(join.cache_key, allowed, reason); end
	local stanza = join.stanza;
	if join.withdrawn then
		module:log("debug", "Dropping the answer for %s joining %s: join withdrawn",
			stanza.attr.from, join.room_jid);
	elseif allowed then
		module:log("debug", "Service allowed %s to join %s", stanza.attr.from, join.room_jid);
		replay_join(join);
	else
		refuse(join.origin, stanza, join.room_jid, reason, definitive and "info" or "warn");
	end
end

local function service_answered(join, body, code)
	if join.decided then return; end
	module:log("debug", "Service answered %s in %.1f ms", tostring(code), (time_now() - join.started) * 1000);
	decide(join, judge(body, code));
end

local function expire_questions(now)
	local expired, next_deadline = nil, nil;
	for join in pairs(in_flight) do
		if join.deadline <= now then
			expired = expired or {};
			expired[#expired + 1] = join;
		elseif not next_deadline or join.deadline < next_deadline then
			next_deadline = join.deadline;
		end
	end
	for _, join in ipairs(expired or {}) do
		decide(join, false, ("service did not answer within %g s"):format(timeout), false);
		join.request:cancel("timeout");
	end
	if not next_deadline then
		timeout_timer_armed = false;
		return nil;
	end
	return math.max(next_deadline - now, 0.001);
end

local function hold_join(origin, stanza, room_jid, user_jid, nickname, key)
	local from = stanza.attr.from;
	local waiting_key = from .. "\0" .. room_jid;
	local previous = waiting[waiting_key];
	if previous then previous.withdrawn = true; end
	local now = time_now();
	local join = {
		origin = origin, stanza = stanza, room_jid = room_jid, cache_key = key,
		waiting_key = waiting_key, started = now, deadline = now + timeout,
	};
	waiting[waiting_key] = join;
	in_flight[join] = true;
	if not timeout_timer_armed then
		timeout_timer_armed = true;
		module:add_timer(timeout, expire_questions);
	end
	local target = service_path .. query_separator .. "userJID=" .. urlencode(user_jid)
		.. "&mucJID=" .. urlencode(room_jid) .. "&nickname=" .. urlencode(nickname);
	join.request = service:get(target, service_answered, join);
end

-- Returns true when the join must stop here (refused, or held while the service decides).
local function check_join(event)
	local origin, stanza, room_jid = event.origin, event.stanza, event.room.jid;
	if approved[stanza] then return nil; end
	if misconfigured then
		refuse(origin, stanza, room_jid, "module misconfigured (see the error at startup)", "warn");
		return true;
	end
	local user_node, user_host = jid_split(stanza.attr.from);
	if (enabled_for or disabled_for) and not is_protected(room_jid, user_host) then return nil; end
	local user_jid = user_node and (user_node .. "@" .. user_host) or user_host;
	local nickname = select(3, jid_split(stanza.attr.to)) or "";
	local key;
	if decisions then
		key = cache_key(user_jid, room_jid, nickname);
		local allowed, reason = cached_decision(key);
		if allowed == true then
			return nil;
		elseif allowed == false then
			refuse(origin, stanza, room_jid, reason .. " (cached)", "info");
			return true;
		end
	end
	hold_join(origin, stanza, room_jid, user_jid, nickname, key);
	return true;
end

local function check_occupant_join(event)
	local refused = check_join(event);
	if not refused then approved[event.stanza] = nil; end
	return refused;
end

-- A leave sent while the join is still waiting on the service withdraws that join. The user is
-- told they are out, as after any leave, instead of the room's "you are not in here" error (or
-- an item-not-found when the join would have created the room).
local function withdrawn_presence(stanza)
	local room = mod_muc.get_room_from_jid(jid_bare(stanza.attr.to));
	local affiliation = room and room:get_affiliation(stanza.attr.from) or "none";
	return st.presence({ from = stanza.attr.to, to = stanza.attr.from, type = "unavailable" })
		:tag("x", { xmlns = "http://jabber.org/protocol/muc#user" })
			:tag("item", { affiliation = affiliation, role = "none" }):up()
			:tag("status", { code = "110" }):up();
end

local function withdraw_pending_join(event)
	local stanza = event.stanza;
	if stanza.attr.type ~= "unavailable" or not stanza.attr.from then return; end
	local waiting_key = stanza.attr.from .. "\0" .. jid_bare(stanza.attr.to);
	local join = waiting[waiting_key];
	if not join then return; end
	join.withdrawn = true;
	waiting[waiting_key] = nil;
	module:log("debug", "%s left %s before the service answered", stanza.attr.from, stanza.attr.to);
	event.origin.send(withdrawn_presence(stanza));
	return true;
end

function module.unload()
	service:close();
end

-- Hooks -------------------------------------------------------------------------------------------

-- Ask before a room is created, so a refused join leaves no empty room (with the refused user as
-- its owner) behind; mod_muc starts tracking the room at priority -1000.
module:hook("muc-room-pre-create", check_join, -500);
-- Ask after Prosody's own checks (bans, members-only, password, locked rooms), so the service is
-- not asked about a join that would be refused anyway.
module:hook("muc-occupant-pre-join", check_occupant_join, -40);
-- Ahead of mod_muc, which would answer a leave from a non-occupant with an error.
module:hook("presence/full", withdraw_pending_join, 10);
