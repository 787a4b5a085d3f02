-- mod_groups_internal: groups of users of this host who see each other in their
-- rosters, created and changed at run time (no configuration file), optionally each
-- with a members-only MUC room.
--
-- Other modules use it through modulemanager.get_module(host, "groups_internal")
-- (or module:depends): create, delete, add_member, remove_member, get_members,
-- exists, get_info, set_info, get_user_groups, sync, groups, add_group_chat,
-- remove_group_chat, get_group_chats, emit_member_events: the API of the module of
-- the same name in prosody-modules. See README.markdown.

local array = require "util.array";
local new_short_id = require "util.id".short;
local jid_util = require "util.jid";
local modulemanager = require "core.modulemanager";
local rostermanager = require "core.rostermanager";
local st = require "util.stanza";

local host = module.host;
local muc_host_name = module:get_option_string("groups_muc_host");

-- group id -> { name = "...", muc_jid = "room@muc" (the default room), mucs = { more rooms } }
local group_info_store = module:open_store("group_info");
-- group id -> { username = true, ... }
local group_members_store = module:open_store("groups");
-- username -> { group id = true, ... }: the reverse of group_members_store
local memberships_store = module:open_store("group_memberships");
-- username -> { contact JID -> { groups = { group id = true }, kept = true|nil } }:
-- which roster items exist because of which groups; `kept` marks an item the user had
-- before any group, which leaving a group never removes.
local contacts_store = module:open_store("group_contacts");

local function user_jid(username) return username.."@"..host; end

--- Rosters

local function user_sessions(username)
	local user = prosody.hosts[host].sessions[username];
	return user and user.sessions or {};
end

-- Each available session of `from` tells `to` about its presence (or its absence).
local function send_presence(from, to, unavailable)
	for _, session in pairs(user_sessions(from)) do
		if session.presence then
			local presence = unavailable and st.presence({ type = "unavailable" }) or st.clone(session.presence);
			presence.attr.from, presence.attr.to = session.full_jid, user_jid(to);
			module:send(presence, session);
		end
	end
end

local function save_item(owner, roster, contact_jid)
	local saved, err = rostermanager.save_roster(owner, host, roster, contact_jid);
	if not saved then
		module:log("warn", "Could not save the roster of %s: %s", user_jid(owner), tostring(err));
		return false;
	end
	rostermanager.roster_push(owner, host, contact_jid);
	return true;
end

-- Group names by id, looked up once per operation.
local function name_lookup()
	local names = {};
	return function (group_id)
		local name = names[group_id];
		if name == nil then
			local info = group_info_store:get(group_id);
			name = info and info.name or false;
			names[group_id] = name;
		end
		return name or nil;
	end;
end

-- Makes each of `contacts` (usernames) a contact of `owner` with subscription "both"
-- and the group's name as roster group. Returns the set of contacts whose item changed.
local function link(owner, contacts, group_id, group_name)
	local changed = {};
	local roster = rostermanager.load_roster(owner, host);
	if not roster then return changed; end
	local tracked = contacts_store:get(owner) or {};
	local pending = roster[false] and roster[false].pending;
	for _, contact in ipairs(contacts) do
		local contact_jid = user_jid(contact);
		local record = tracked[contact_jid];
		local item = roster[contact_jid];
		if not record then
			record = { groups = {}, kept = item ~= nil or nil };
			tracked[contact_jid] = record;
		end
		record.groups[group_id] = true;
		local modified = false;
		if not item then
			item = { subscription = "both", groups = {} };
			roster[contact_jid] = item;
			modified = true;
		elseif item.subscription ~= "both" or item.ask then
			item.subscription, item.ask = "both", nil;
			modified = true;
		end
		item.groups = item.groups or {};
		if group_name and not item.groups[group_name] then
			item.groups[group_name] = true;
			modified = true;
		end
		if pending and pending[contact_jid] then
			pending[contact_jid] = nil;
			modified = true;
		end
		if modified and save_item(owner, roster, contact_jid) then
			changed[contact] = true;
		end
	end
	contacts_store:set(owner, tracked);
	return changed;
end

-- Undoes link() for `group_id`: an item no other group (and not the user) wanted is
-- removed, else only this group's name leaves its roster groups. Returns a map
-- contact -> "removed" | "changed".
local function unlink(owner, contacts, group_id, group_name, name_of)
	local outcome = {};
	local tracked = contacts_store:get(owner);
	if not tracked then return outcome; end
	local roster = rostermanager.load_roster(owner, host);
	if not roster then return outcome; end
	for _, contact in ipairs(contacts) do
		local contact_jid = user_jid(contact);
		local record = tracked[contact_jid];
		if record and record.groups[group_id] then
			record.groups[group_id] = nil;
			local item = roster[contact_jid];
			local others = next(record.groups) ~= nil;
			if not others then tracked[contact_jid] = nil; end
			if item and not others and not record.kept then
				roster[contact_jid] = nil;
				if save_item(owner, roster, contact_jid) then outcome[contact] = "removed"; end
			elseif item and group_name and item.groups and item.groups[group_name] then
				local still_named = false;
				for other_id in pairs(record.groups) do
					if name_of(other_id) == group_name then still_named = true; end
				end
				if not still_named then
					item.groups[group_name] = nil;
					if save_item(owner, roster, contact_jid) then outcome[contact] = "changed"; end
				end
			end
		end
	end
	contacts_store:set(owner, next(tracked) and tracked or nil);
	return outcome;
end

-- An item left on one side only (the other user had it before the group) no longer
-- carries a subscription that the other side has dropped.
local function downgrade(owner, contact)
	local roster = rostermanager.load_roster(owner, host);
	local item = roster and roster[user_jid(contact)];
	if item and item.subscription ~= "none" then
		item.subscription, item.ask = "none", nil;
		save_item(owner, roster, user_jid(contact));
	end
end

-- `user` and each of `others` become mutual contacts; presence is exchanged between
-- pairs whose rosters changed, so that online members see each other at once.
local function befriend(user, others, group_id, group_name)
	local changed = link(user, others, group_id, group_name);
	for _, other in ipairs(others) do
		local back = link(other, { user }, group_id, group_name);
		if changed[other] or back[user] then
			send_presence(user, other, false);
			send_presence(other, user, false);
		end
	end
end

local function unfriend(user, others, group_id, group_name, name_of)
	local outcome = unlink(user, others, group_id, group_name, name_of);
	for _, other in ipairs(others) do
		local back = unlink(other, { user }, group_id, group_name, name_of)[user];
		local forth = outcome[other];
		if forth == "removed" and back ~= "removed" then
			downgrade(other, user);
		elseif back == "removed" and forth ~= "removed" then
			downgrade(user, other);
		end
		if forth == "removed" or back == "removed" then
			send_presence(user, other, true);
			send_presence(other, user, true);
		end
	end
end

--- Groups and members

local function sorted_members(group_id, except)
	local list = array();
	for username in pairs(group_members_store:get(group_id) or {}) do
		if username ~= except then list:push(username); end
	end
	table.sort(list);
	return list;
end

local function set_membership(username, group_id, member)
	local groups = memberships_store:get(username) or {};
	groups[group_id] = member or nil;
	return memberships_store:set(username, next(groups) and groups or nil);
end

local function info_mucs(info)
	local mucs = {};
	if info.muc_jid then mucs[#mucs + 1] = info.muc_jid; end
	for _, muc_jid in ipairs(info.mucs or {}) do mucs[#mucs + 1] = muc_jid; end
	return mucs;
end

--- MUC rooms (groups_muc_host)

local function muc_service()
	if not muc_host_name then return nil, "service-unavailable"; end
	local muc = modulemanager.get_module(muc_host_name, "muc");
	if not muc or type(muc.create_room) ~= "function" then
		module:log("warn", "groups_muc_host %s has no MUC service loaded", muc_host_name);
		return nil, "service-unavailable";
	end
	return muc;
end

local function get_room(muc_jid)
	local muc = muc_service();
	return muc and muc.get_room_from_jid(muc_jid);
end

local function invite(room_jid, username)
	module:send(st.message({ from = room_jid, to = user_jid(username) })
		:tag("x", { xmlns = "jabber:x:conference", jid = room_jid }):up());
end

local function set_room_member(room_jid, username, member)
	local room = get_room(room_jid);
	if not room then
		module:log("warn", "Room %s of a group is gone; cannot change %s there", room_jid, user_jid(username));
		return;
	end
	room:set_affiliation(true, user_jid(username), member and "member" or "none");
	if member then invite(room_jid, username); end
end

local function create_room(name)
	local muc, err = muc_service();
	if not muc then return nil, err; end
	local room_jid = jid_util.prep(new_short_id():lower().."@"..muc_host_name);
	local room = room_jid and muc.create_room(room_jid);
	if not room then return nil, "internal-server-error"; end
	local configured = pcall(function ()
		room:set_public(false);
		room:set_persistent(true);
		room:set_members_only(true);
		room:set_allow_member_invites(false);
		room:set_moderated(false);
		room:set_whois("anyone");
		room:set_name(name);
		room:save(true);
	end);
	if not configured then
		module:log("warn", "Could not configure the group room %s", room_jid);
		room:destroy();
		return nil, "internal-server-error";
	end
	return room_jid, room;
end

--- The API

local api = {};

function api.exists(group_id)
	return group_info_store:get(group_id) ~= nil;
end

function api.get_info(group_id)
	return group_info_store:get(group_id);
end

function api.get_members(group_id)
	return group_members_store:get(group_id) or {};
end

function api.get_user_groups(username)
	local ids = array();
	for group_id in pairs(memberships_store:get(username) or {}) do ids:push(group_id); end
	table.sort(ids);
	return ids;
end

-- An iterator over the group ids.
function api.groups()
	local ids = {};
	for group_id in group_info_store:users() do
		if type(group_id) == "string" then ids[#ids + 1] = group_id; end
	end
	table.sort(ids);
	local i = 0;
	return function ()
		i = i + 1;
		return ids[i];
	end;
end

function api.create(group_info, create_default_muc, group_id)
	if type(group_info) ~= "table" or type(group_info.name) ~= "string" or group_info.name == "" then
		return nil, "group-name-required";
	end
	if group_id == nil then
		repeat group_id = new_short_id(); until not api.exists(group_id);
	elseif type(group_id) ~= "string" or group_id == "" then
		return nil, "bad-request";
	elseif api.exists(group_id) then
		return nil, "conflict";
	end
	local muc_jid, room;
	if create_default_muc then
		muc_jid, room = create_room(group_info.name);
		if not muc_jid then return nil, room; end
	end
	local stored = group_info_store:set(group_id, { name = group_info.name, muc_jid = muc_jid });
	if not stored then
		if room then room:destroy(); end
		return nil, "internal-server-error";
	end
	module:log("info", "Group %s (%q) created", group_id, group_info.name);
	module:fire_event("group-created", { group_id = group_id, group_info = api.get_info(group_id) });
	return group_id;
end

-- Renaming a group renames the roster group of the contacts it made.
local function rename_in_rosters(group_id, old_name, new_name)
	for _, owner in ipairs(sorted_members(group_id)) do
		local tracked = contacts_store:get(owner) or {};
		local roster = rostermanager.load_roster(owner, host);
		for contact_jid, record in pairs(tracked) do
			local item = roster and roster[contact_jid];
			if record.groups[group_id] and item and item.groups then
				item.groups[old_name], item.groups[new_name] = nil, true;
				save_item(owner, roster, contact_jid);
			end
		end
	end
end

function api.set_info(group_id, info)
	if type(info) ~= "table" or type(info.name) ~= "string" or info.name == "" then
		return nil, "bad-request";
	end
	local old = group_info_store:get(group_id);
	if not old then return nil, "group-not-found"; end
	if not group_info_store:set(group_id, info) then
		return nil, "internal-server-error";
	end
	for _, muc_jid in ipairs(info_mucs(info)) do
		local room = get_room(muc_jid);
		if room then room:set_name(info.name); end
	end
	if old.name ~= info.name then rename_in_rosters(group_id, old.name, info.name); end
	return true;
end

function api.add_member(group_id, username, delay_update)
	local info = group_info_store:get(group_id);
	if not info then return nil, "group-not-found"; end
	local members = group_members_store:get(group_id) or {};
	if not members[username] then
		members[username] = true;
		if not group_members_store:set(group_id, members) then return nil, "internal-server-error"; end
		if not set_membership(username, group_id, true) then
			members[username] = nil;
			group_members_store:set(group_id, members);
			return nil, "internal-server-error";
		end
		for _, muc_jid in ipairs(info_mucs(info)) do set_room_member(muc_jid, username, true); end
		module:log("info", "%s joined group %s", user_jid(username), group_id);
		module:fire_event("group-user-added", { id = group_id, user = username, host = host, group_info = info });
	end
	if not delay_update then
		befriend(username, sorted_members(group_id, username), group_id, info.name);
	end
	return true;
end

-- Takes `username` out of a group. For a deleted account only the other members'
-- rosters change (the account's own data is being purged).
local function leave(group_id, username, info, deleted)
	local members = group_members_store:get(group_id) or {};
	if not members[username] then return true; end
	members[username] = nil;
	if not group_members_store:set(group_id, next(members) and members or nil) then
		return nil, "internal-server-error";
	end
	set_membership(username, group_id, false);
	for _, muc_jid in ipairs(info_mucs(info)) do set_room_member(muc_jid, username, false); end
	local name_of = name_lookup();
	if deleted then
		for _, other in ipairs(sorted_members(group_id)) do
			unlink(other, { username }, group_id, info.name, name_of);
		end
	else
		unfriend(username, sorted_members(group_id), group_id, info.name, name_of);
	end
	module:log("info", "%s left group %s", user_jid(username), group_id);
	module:fire_event("group-user-removed", { id = group_id, user = username, host = host, group_info = info });
	return true;
end

function api.remove_member(group_id, username)
	local info = group_info_store:get(group_id);
	if not info then return nil, "group-not-found"; end
	return leave(group_id, username, info, false);
end

function api.delete(group_id)
	local info = group_info_store:get(group_id);
	if not info then return true; end
	local members = sorted_members(group_id);
	local name_of = name_lookup();
	for i, username in ipairs(members) do
		local later = {};
		for j = i + 1, #members do later[#later + 1] = members[j]; end
		unfriend(username, later, group_id, info.name, name_of);
		set_membership(username, group_id, false);
	end
	for _, muc_jid in ipairs(info_mucs(info)) do
		local room = get_room(muc_jid);
		if room then room:destroy(nil, "The group was deleted"); end
	end
	if not group_members_store:set(group_id, nil) or not group_info_store:set(group_id, nil) then
		return nil, "internal-server-error";
	end
	module:log("info", "Group %s deleted", group_id);
	module:fire_event("group-deleted", { group_id = group_id, group_info = info });
	return true;
end

-- Makes every pair of members contacts (after add_member with delay_update).
function api.sync(group_id)
	local info = group_info_store:get(group_id);
	if not info then return nil, "group-not-found"; end
	local members = sorted_members(group_id);
	for i, username in ipairs(members) do
		local later = {};
		for j = i + 1, #members do later[#later + 1] = members[j]; end
		if #later > 0 then befriend(username, later, group_id, info.name); end
	end
	return true;
end

function api.emit_member_events(group_id)
	local info = group_info_store:get(group_id);
	if not info then return false, "group-not-found"; end
	for _, username in ipairs(sorted_members(group_id)) do
		module:fire_event("group-user-added", { id = group_id, user = username, host = host, group_info = info });
	end
	return true;
end

function api.add_group_chat(group_id, name)
	local info = group_info_store:get(group_id);
	if not info then return nil, "group-not-found"; end
	local room_jid, room = create_room(name or info.name);
	if not room_jid then return nil, room; end
	info.mucs = info.mucs or {};
	info.mucs[#info.mucs + 1] = room_jid;
	if not group_info_store:set(group_id, info) then
		room:destroy();
		return nil, "internal-server-error";
	end
	for _, username in ipairs(sorted_members(group_id)) do set_room_member(room_jid, username, true); end
	local muc = { jid = room_jid, name = name or info.name };
	module:fire_event("group-chat-added", { group_id = group_id, group_info = info, muc = muc });
	return muc;
end

function api.remove_group_chat(group_id, muc_id)
	local info = group_info_store:get(group_id);
	if not info then return nil, "group-not-found"; end
	local removed;
	if info.muc_jid and jid_util.node(info.muc_jid) == muc_id then
		removed, info.muc_jid = info.muc_jid, nil;
	end
	for i, muc_jid in ipairs(info.mucs or {}) do
		if not removed and jid_util.node(muc_jid) == muc_id then
			removed = table.remove(info.mucs, i);
		end
	end
	if not removed then return true; end
	if not group_info_store:set(group_id, info) then return nil, "internal-server-error"; end
	local room = get_room(removed);
	if room then room:destroy(nil, "The group chat was removed"); end
	module:fire_event("group-chat-removed", { group_id = group_id, group_info = info, muc = { id = muc_id, jid = removed } });
	return true;
end

function api.get_group_chats(group_id)
	local info = group_info_store:get(group_id);
	if not info then return nil; end
	local chats = array();
	for _, muc_jid in ipairs(info_mucs(info)) do
		local room = get_room(muc_jid);
		chats:push({
			id = jid_util.node(muc_jid);
			jid = muc_jid;
			name = room and room:get_name() or info.name;
			deleted = room == nil or (room._data and room._data.destroyed) or false;
		});
	end
	return chats;
end

-- Exported as prosody-modules' mod_groups_internal exports them: as globals of the
-- module's environment, which modulemanager.get_module() and module:depends() return.
for name, fn in pairs(api) do
	module.environment[name] = fn; -- luacheck: ignore 122
end

--- Events

-- Members added with delay_update get their contacts when they next log in, as do
-- members whose rosters lost a group contact meanwhile.
module:hook("resource-bind", function (event)
	local username = event.session.username;
	local roster = event.session.roster or rostermanager.load_roster(username, host);
	for _, group_id in ipairs(api.get_user_groups(username)) do
		local missing = {};
		for _, other in ipairs(sorted_members(group_id, username)) do
			local item = roster and roster[user_jid(other)];
			if not item or item.subscription ~= "both" then missing[#missing + 1] = other; end
		end
		if #missing > 0 then
			local info = group_info_store:get(group_id);
			befriend(username, missing, group_id, info and info.name);
		end
	end
end);

module:hook_global("user-deleted", function (event)
	if event.host ~= host then return; end
	for _, group_id in ipairs(api.get_user_groups(event.username)) do
		local info = group_info_store:get(group_id);
		if info then leave(group_id, event.username, info, true); end
	end
	memberships_store:set(event.username, nil);
	contacts_store:set(event.username, nil);
end);

if muc_host_name then
	local function check_muc_host()
		if not muc_service() then
			module:log("error", "groups_muc_host is %s, which has no MUC service: groups cannot have rooms", muc_host_name);
		end
	end
	if prosody.start_time then
		check_muc_host();
	else
		module:hook_global("server-started", check_muc_host);
	end
end
