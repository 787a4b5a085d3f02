-- Test-only probe: calls mod_groups_internal's API as another module would (through
-- modulemanager.get_module) and reports what it returned and which events it fired,
-- over HTTP. Never load it on a real server: it has no authentication.
local array = require "util.array";
local json = require "util.json";
local modulemanager = require "core.modulemanager";

module:depends("http");

local recorded = {};
local watched = {
	"group-created", "group-deleted", "group-user-added", "group-user-removed",
	"group-chat-added", "group-chat-removed",
};
for _, name in ipairs(watched) do
	module:hook(name, function (event)
		recorded[#recorded + 1] = {
			event = name;
			group_id = event.group_id or event.id;
			user = event.user;
			host = event.host;
			group_name = event.group_info and event.group_info.name;
			muc = event.muc and event.muc.jid;
		};
	end);
end

local function reply(status, data)
	return { status_code = status, headers = { content_type = "application/json" }, body = json.encode(data) };
end

local function plain(value)
	if type(value) == "function" then return "<function>"; end
	return value;
end

local function call(event)
	local request = json.decode(event.request.body or "") or {};
	local groups = modulemanager.get_module(module.host, "groups_internal");
	if not groups then return reply(503, { error = "groups_internal not loaded" }); end
	local fn = groups[request.fn];
	if type(fn) ~= "function" then return reply(404, { error = "no function "..tostring(request.fn) }); end
	local args = {};
	local n = request.args and #request.args or 0;
	for i = 1, n do
		local arg = request.args[i];
		if arg == json.null then arg = nil; end
		args[i] = arg;
	end
	local results = table.pack(pcall(fn, table.unpack(args, 1, n)));
	if not results[1] then return reply(500, { error = tostring(results[2]) }); end
	if request.fn == "groups" then
		local ids = array();
		for id in results[2] do ids:push(id); end
		table.sort(ids);
		return reply(200, { results = { ids } });
	end
	local out = array();
	for i = 2, results.n do out:push(plain(results[i]) == nil and json.null or plain(results[i])); end
	return reply(200, { results = out });
end

local function room(event)
	local request = json.decode(event.request.body or "") or {};
	local muc = modulemanager.get_module(request.host or "", "muc");
	local found = muc and muc.get_room_from_jid(request.jid or "");
	-- A destroyed room may stay behind as a tombstone (muc_tombstones).
	if not found or (found._data and found._data.destroyed) then return reply(200, { exists = false }); end
	return reply(200, {
		exists = true;
		name = found:get_name();
		members_only = found:get_members_only();
		persistent = found:get_persistent();
		affiliation = type(request.user) == "string" and found:get_affiliation(request.user) or json.null;
	});
end

local function events()
	local out = array(recorded);
	recorded = {};
	return reply(200, { events = out });
end

module:provides("http", {
	name = "groups_probe";
	route = {
		["POST /call"] = call;
		["POST /room"] = room;
		["GET /events"] = events;
	};
});
