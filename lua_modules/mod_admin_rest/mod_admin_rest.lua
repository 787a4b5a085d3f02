-- mod_admin_rest: administer a VirtualHost over HTTP with JSON requests.
--
-- Every request carries HTTP Basic credentials of an account with admin rights on
-- this host. Paths live under admin_rest_base (default /admin_rest); answers are
-- JSON: {"result": ...} on success, {"error": {code, condition, text}} on failure.
-- See README.markdown for the protocol and the design decisions.

local array = require "util.array";
local base64_decode = require "util.encodings".base64.decode;
local errors = require "util.error";
local jid_util = require "util.jid";
local json = require "util.json";
local modulemanager = require "core.modulemanager";
local new_id = require "util.id".medium;
local new_ip = require "util.ip".new_ip;
local nodeprep = require "util.encodings".stringprep.nodeprep;
local saslprep = require "util.encodings".stringprep.saslprep;
local utf8_valid = require "util.encodings".utf8.valid;
local rostermanager = require "core.rostermanager";
local st = require "util.stanza";
local storagemanager = require "core.storagemanager";
local usermanager = require "core.usermanager";
local xml_parse = require "util.xml".parse;

local hosts = prosody.hosts;
local host = module.host;
local ipairs, next, pairs, tostring, type = ipairs, next, pairs, tostring, type;

local base_path = module:get_option_string("admin_rest_base", "/admin_rest");
local require_secure = module:get_option_boolean("admin_rest_secure", false);
local message_prefix = module:get_option_string("admin_rest_message_prefix", "");
local multicast_prefix = module:get_option_string("admin_rest_multicast_prefix", "");
local broadcast_prefix = module:get_option_string("admin_rest_broadcast_prefix", "");
local max_body_size = module:get_option_number("admin_rest_max_body_size", 1024 * 1024);

module:depends("http");

-- Verified Basic credentials are remembered for a short time by mod_http_auth_cache,
-- shared with mod_rest, so that a busy client does not pay for the password hash on
-- every request.
local auth_cache = module:depends("http_auth_cache");

-- Prosody 13 decides who may do what with roles and permissions; 0.12 has only the
-- `admins` lists (usermanager.is_admin). In 13 the `admins` option still grants the
-- prosody:admin role, which gets this module's permission by default.
local use_roles = module.may ~= nil;
if use_roles then
	module:default_permission("prosody:admin", ":access");
end

--- Errors: one registry, one JSON shape

local admin_errors = errors.init(module.name, {
	["not-authorized"] = { code = 401, type = "auth", text = "Valid Basic credentials of an administrator are required" };
	["forbidden"] = { code = 403, type = "auth", text = "This account may not administer this host" };
	["address-not-allowed"] = { code = 403, type = "auth", text = "Requests from this address are not allowed" };
	["insecure-connection"] = { code = 403, type = "auth", text = "This API is only available over HTTPS" };
	["misconfigured"] = { code = 503, type = "cancel", text = "mod_admin_rest is misconfigured; see Prosody's log" };
	["route-not-found"] = { code = 404, type = "cancel", text = "No such command" };
	["method-not-allowed"] = { code = 405, type = "cancel", text = "Method not allowed here" };
	["body-too-large"] = { code = 413, type = "modify", text = "Request body too large" };
	["unsupported-media-type"] = { code = 415, type = "modify", text = "Content-Type must be application/json" };
	["malformed-json"] = { code = 400, type = "modify", text = "The body is not valid JSON" };
	["invalid-body"] = { code = 400, type = "modify", text = "The body does not have the expected shape" };
	["invalid-username"] = { code = 400, type = "modify", text = "Not a valid username" };
	["invalid-password"] = { code = 400, type = "modify", text = "Not a valid password" };
	["invalid-jid"] = { code = 404, type = "modify", text = "Not a valid JID" };
	["invalid-address"] = { code = 400, type = "modify", text = "Not an IP address or CIDR range" };
	["invalid-module-name"] = { code = 400, type = "modify", text = "Not a valid module name" };
	["invalid-group-id"] = { code = 400, type = "modify", text = "Not a valid group id" };
	["invalid-vcard"] = { code = 400, type = "modify", text = "Not a vcard-temp vCard element" };
	["unsupported-attribute"] = { code = 400, type = "modify", text = "This attribute cannot be changed" };
	["muc-unavailable"] = { code = 400, type = "modify", text = "No MUC service is configured for groups (groups_muc_host)" };
	["user-not-found"] = { code = 404, type = "cancel", text = "No such user" };
	["user-not-connected"] = { code = 404, type = "cancel", text = "The user is not connected" };
	["contact-not-found"] = { code = 404, type = "cancel", text = "No such contact" };
	["vcard-not-found"] = { code = 404, type = "cancel", text = "The user has no vCard" };
	["module-not-found"] = { code = 404, type = "cancel", text = "No such module is installed" };
	["module-not-loaded"] = { code = 404, type = "cancel", text = "The module is not loaded" };
	["not-in-whitelist"] = { code = 404, type = "cancel", text = "The address is not in the whitelist" };
	["group-not-found"] = { code = 404, type = "cancel", text = "No such group" };
	["member-not-found"] = { code = 404, type = "cancel", text = "The user is not a member of the group" };
	["no-recipients"] = { code = 404, type = "cancel", text = "No message was sent: no valid recipient" };
	["group-exists"] = { code = 409, type = "cancel", text = "A group with this id exists" };
	["whitelist-lockout"] = { code = 409, type = "cancel", text = "The change would refuse the address it came from" };
	["not-implemented"] = { code = 501, type = "cancel", text = "Not available in this Prosody" };
	["groups-unavailable"] = { code = 503, type = "cancel", text = "mod_groups_internal is not loaded on this host" };
	["not-stored"] = { code = 503, type = "wait", text = "The user is offline and the message could not be stored" };
	["internal-server-error"] = { code = 500, type = "wait", text = "Internal error; see Prosody's log" };
});

-- Text that may hold bytes from a request path (decoded from %XX, so not always
-- UTF-8) is made valid UTF-8 before it goes into a JSON answer.
local function clean(text)
	if utf8_valid(text) then return text; end
	return (text:gsub("[\128-\255]", "\239\191\189"));
end

-- An error from the registry, with a text for this occasion.
local function fail(name, text)
	local err = admin_errors.new(name);
	err.condition = name;
	if text then err.text = clean(text); end
	return err;
end

--- JSON answers

-- util.json tells arrays from objects by this metatable (util.array's); probed rather
-- than assumed so that a change between Prosody versions cannot go unnoticed.
local json_array_mt = getmetatable(json.decode("[]"));
local json_object_mt = getmetatable(json.decode("{}"));
if json_array_mt == json_object_mt or getmetatable(array()) ~= json_array_mt then
	error("this Prosody's util.json does not tell JSON arrays from objects by util.array");
end

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" };
for byte = 0, 31 do
	local char = string.char(byte);
	escapes[char] = escapes[char] or ("\\u%04x"):format(byte);
end

-- A value already written as JSON text (a large roster), put into an answer verbatim.
local raw_json_mt = {};
local function raw_json(text) return setmetatable({ text = text }, raw_json_mt); end

local function write_string(text, out)
	local n = #out;
	out[n + 1], out[n + 3] = '"', '"';
	out[n + 2] = text:find('[%c"\\]') and (text:gsub('[%c"\\]', escapes)) or text;
end

-- The answers are plain data (strings, numbers, booleans, util.array arrays, objects
-- with string keys). Written here rather than by util.json to make fewer short-lived
-- strings and tables: Prosody's eager garbage collector makes those costly, and an
-- answer may hold a roster of thousands of items (see README, "Costs").
local function write_json(value, out)
	local kind = type(value);
	if kind == "string" then
		write_string(value, out);
	elseif kind == "number" then
		if value ~= value or value == math.huge or value == -math.huge then
			out[#out + 1] = "null";
		elseif math.type and math.type(value) == "integer" or value % 1 == 0 and math.abs(value) < 2^53 then
			out[#out + 1] = ("%d"):format(value);
		else
			out[#out + 1] = ("%.17g"):format(value);
		end
	elseif kind == "boolean" then
		out[#out + 1] = value and "true" or "false";
	elseif kind == "table" and value ~= json.null then
		local mt = getmetatable(value);
		if mt == raw_json_mt then
			out[#out + 1] = value.text;
		elseif mt == json_array_mt then
			out[#out + 1] = "[";
			for i = 1, #value do
				if i > 1 then out[#out + 1] = ","; end
				write_json(value[i], out);
			end
			out[#out + 1] = "]";
		else
			out[#out + 1] = "{";
			local first = true;
			for key, item in pairs(value) do
				if not first then out[#out + 1] = ","; end
				first = false;
				write_json(tostring(key), out);
				out[#out + 1] = ":";
				write_json(item, out);
			end
			out[#out + 1] = "}";
		end
	else
		out[#out + 1] = "null";
	end
end

local function encode_json(value)
	local out = {};
	write_json(value, out);
	return table.concat(out);
end

local function json_response(status, data, headers)
	local response_headers = { content_type = "application/json" };
	for name, value in pairs(headers or {}) do response_headers[name] = value; end
	return { status_code = status, headers = response_headers, body = encode_json(data) };
end

local function error_response(err, headers)
	return json_response(err.code or 500, {
		error = { code = err.code or 500, condition = err.condition, text = err.text };
	}, headers);
end

local function ok(result, status, extra)
	local data = { result = result };
	for name, value in pairs(extra or {}) do data[name] = value; end
	return json_response(status or 200, data);
end

--- JSON bodies

local function is_object(value)
	return type(value) == "table" and getmetatable(value) == json_object_mt;
end

local function is_array(value)
	return type(value) == "table" and getmetatable(value) == json_array_mt;
end

local function media_type(request)
	local content_type = request.headers.content_type;
	if not content_type then return nil; end
	local mime, params = content_type:lower():match("^%s*([^;%s]+)%s*(.*)$");
	local charset = params and params:match("charset%s*=%s*\"?([^;\"%s]+)");
	if charset and charset ~= "utf-8" then return nil; end
	return mime;
end

local function is_json_type(mime)
	return mime == "application/json" or (mime ~= nil and mime:match("^application/[%w%.%-]+%+json$") ~= nil);
end

-- The request body as a Lua value; nil when the body is empty. `shape` is "object"
-- or "array": what the command expects at the top level.
local function read_json(request, shape)
	local body = request.body;
	if body == nil or body == "" then return nil; end
	if not is_json_type(media_type(request)) then
		return nil, fail("unsupported-media-type");
	end
	if not utf8_valid(body) then
		return nil, fail("malformed-json", "The body is not UTF-8");
	end
	local decoded_ok, value = pcall(json.decode, body);
	if not decoded_ok or value == nil then
		return nil, fail("malformed-json");
	end
	if shape == "object" and not is_object(value) then
		return nil, fail("invalid-body", "The body must be a JSON object");
	elseif shape == "array" and not is_array(value) then
		return nil, fail("invalid-body", "The body must be a JSON array");
	end
	return value;
end

local function required_body(request, shape)
	local value, err = read_json(request, shape);
	if err then return nil, err; end
	if value == nil then
		return nil, fail("invalid-body", ("A JSON %s body is required"):format(shape));
	end
	return value;
end

-- Text that can go into a stanza: XML 1.0 allows no control character but tab, LF, CR.
local function xml_text(text)
	return not text:find("[%z\1-\8\11\12\14-\31]");
end

-- A field of a decoded object: `kind` is "string" or "boolean"; JSON null counts as absent.
local function field(object, name, kind, required)
	local value = object and object[name];
	if value == json.null then value = nil; end
	if value == nil then
		if required then
			return nil, fail("invalid-body", ("%q is required"):format(name));
		end
		return nil;
	end
	if type(value) ~= kind then
		return nil, fail("invalid-body", ("%q must be a %s"):format(name, kind));
	end
	if kind == "string" and value == "" and required then
		return nil, fail("invalid-body", ("%q must not be empty"):format(name));
	end
	if kind == "string" and not xml_text(value) then
		return nil, fail("invalid-body", ("%q holds control characters that XML cannot carry"):format(name));
	end
	return value;
end

--- Names and addresses

-- A username on this host from a path segment or a body field: "john", or the bare
-- JID "john@<host>". Returns the node as Prosody stores it (nodeprep'd).
local function parse_username(text)
	if type(text) ~= "string" or text == "" or #text > 1023 then
		return nil, fail("invalid-username");
	end
	local node;
	if text:find("@", 1, true) then
		local prepped = jid_util.prep(text);
		local user_host, resource;
		if prepped then node, user_host, resource = jid_util.split(prepped); end
		if not node or resource or user_host ~= host then
			return nil, fail("invalid-username", ("%q is not a user of %s"):format(text, host));
		end
	else
		node = nodeprep(text);
	end
	if not node or node == "" then
		return nil, fail("invalid-username", ("%q is not a valid username"):format(text));
	end
	return node;
end

local function user_exists(node)
	return usermanager.user_exists(node, host);
end

local function existing_user(text)
	local node, err = parse_username(text);
	if not node then return nil, err; end
	if not user_exists(node) then
		return nil, fail("user-not-found", ("No user %q on %s"):format(node, host));
	end
	return node;
end

local function is_local_host(name)
	local host_session = hosts[name];
	return host_session ~= nil and host_session.type == "local";
end

-- An address or a CIDR range as bytes and a prefix length, for whitelists.
local function parse_range(text)
	if type(text) ~= "string" then return nil; end
	local address, bits = text:match("^([^/]+)/(%d+)$");
	if not address then
		if text:find("/", 1, true) then return nil; end
		address = text;
	end
	local ip = new_ip(address);
	if not ip then return nil; end
	local packed = ip.packed;
	bits = tonumber(bits) or #packed * 8;
	if bits > #packed * 8 then return nil; end
	return { text = text, packed = packed, bits = bits };
end

-- An IPv4-mapped IPv6 address (::ffff:a.b.c.d) compares as the IPv4 address.
local function address_bytes(text)
	local ip = text and new_ip((text:gsub("^%[(.*)%]$", "%1")));
	if not ip then return nil; end
	local packed = ip.packed;
	if #packed == 16 and packed:sub(1, 12) == "\0\0\0\0\0\0\0\0\0\0\255\255" then
		packed = packed:sub(13);
	end
	return packed;
end

-- Written without bitwise operators, which Lua 5.1 and 5.2 lack.
local function in_range(packed, range)
	if #packed ~= #range.packed then return false; end
	local whole, rest = math.floor(range.bits / 8), range.bits % 8;
	if packed:sub(1, whole) ~= range.packed:sub(1, whole) then return false; end
	if rest == 0 then return true; end
	local step = 2 ^ (8 - rest);
	return math.floor(packed:byte(whole + 1) / step) == math.floor(range.packed:byte(whole + 1) / step);
end

local function same_range(a, b)
	return a.packed == b.packed and a.bits == b.bits;
end

--- Configuration checks and the whitelist

local config_errors = {};

if base_path:sub(1, 1) ~= "/" then
	config_errors[#config_errors + 1] = ("admin_rest_base must start with '/' (got %q)"):format(base_path);
end
if max_body_size < 1 then
	config_errors[#config_errors + 1] = "admin_rest_max_body_size must be a positive number";
end

-- nil: no address restriction. Otherwise an array of ranges, enforced even when empty.
local whitelist;

local function configured_whitelist()
	local option = module:get_option("admin_rest_whitelist");
	if option == nil then return nil; end
	if type(option) == "string" then option = { option }; end
	if type(option) ~= "table" then
		return nil, "admin_rest_whitelist must be a list of addresses and CIDR ranges";
	end
	local ranges = {};
	for _, entry in ipairs(option) do
		local range = parse_range(entry);
		if not range then
			return nil, ("admin_rest_whitelist: %q is not an IP address or CIDR range"):format(tostring(entry));
		end
		ranges[#ranges + 1] = range;
	end
	return ranges;
end

-- What the configuration said when the whitelist was last read from it, to tell a
-- changed option (the file wins) from an unchanged one (run-time edits are kept).
local function option_fingerprint()
	local option = module:get_option("admin_rest_whitelist");
	if type(option) ~= "table" then return tostring(option); end
	local parts = {};
	for _, entry in ipairs(option) do parts[#parts + 1] = tostring(entry); end
	return table.concat(parts, "\0");
end

local whitelist_fingerprint = option_fingerprint();
local whitelist_error;
whitelist, whitelist_error = configured_whitelist();
if whitelist_error then
	config_errors[#config_errors + 1] = whitelist_error;
end

for _, message in ipairs(config_errors) do
	module:log("error", "Configuration error, refusing every request: %s", message);
end

local function address_allowed(ip, ranges)
	if ranges == nil then return true; end
	local packed = address_bytes(ip);
	if not packed then return false; end
	for _, range in ipairs(ranges) do
		if in_range(packed, range) then return true; end
	end
	return false;
end

local function whitelist_texts()
	local texts = array();
	for _, range in ipairs(whitelist or {}) do texts:push(range.text); end
	return texts;
end

--- Who may call

local function refuse(request, name, reason, who)
	module:log("warn", "Refused %s %s from %s%s: %s", request.method, request.path, tostring(request.ip),
		who and (" as "..who) or "", reason);
	return fail(name);
end

-- The account named by a Basic username: the bare JID "admin@host" of any local
-- host, or a bare name on this host.
local function credentials_account(username)
	if username:find("@", 1, true) then
		local prepped = jid_util.prep(username);
		if not prepped then return nil; end
		local node, account_host, resource = jid_util.split(prepped);
		if not node or resource or not is_local_host(account_host) then return nil; end
		return node, account_host;
	end
	local node = nodeprep(username);
	if not node or node == "" then return nil; end
	return node, host;
end

-- The cache of the account's own host: this host's, or another host's if that host
-- loads one (an admin of another VirtualHost), else the password is checked directly.
local function password_ok(node, account_host, password)
	local cache = auth_cache;
	if account_host ~= host then
		cache = modulemanager.get_module(account_host, "http_auth_cache");
		if not cache or type(cache.test_password) ~= "function" then
			return usermanager.test_password(node, account_host, password);
		end
	end
	return cache.test_password(node, password);
end

local function account_enabled(node, account_host)
	if not usermanager.user_is_enabled then return true; end -- 0.12 has no disabled accounts
	return usermanager.user_is_enabled(node, account_host) ~= false;
end

local function may_administer(actor_jid)
	if use_roles then
		return module:may(":access", actor_jid);
	end
	return usermanager.is_admin(actor_jid, host);
end

-- Returns the caller's bare JID, or nil and the error to answer with.
local function authenticate(request)
	local header = request.headers.authorization;
	if not header then
		return nil, refuse(request, "not-authorized", "no credentials");
	end
	local token = header:match("^%s*[Bb][Aa][Ss][Ii][Cc]%s+([A-Za-z0-9+/=]+)%s*$");
	local decoded = token and base64_decode(token);
	local username, password = (decoded or ""):match("^([^:]+):(.+)$");
	if not username then
		return nil, refuse(request, "not-authorized", "malformed Basic credentials");
	end
	local node, account_host = credentials_account(username);
	if not node then
		return nil, refuse(request, "not-authorized", "not a username of this server", ("%q"):format(username));
	end
	local actor = node.."@"..account_host;
	local enabled = account_enabled(node, account_host);
	if not enabled then
		return nil, refuse(request, "not-authorized", "the account is disabled", actor);
	end
	if not password_ok(node, account_host, password) then
		return nil, refuse(request, "not-authorized", "wrong password or no such account", actor);
	end
	if not may_administer(actor) then
		return nil, refuse(request, "forbidden", "not an administrator of "..host, actor);
	end
	return actor;
end

-- Everything that is checked before a command runs, in order: the configuration,
-- HTTPS, the address, the credentials.
local function admit(request)
	if #config_errors > 0 then
		return nil, refuse(request, "misconfigured", "module misconfigured: "..config_errors[1]);
	end
	if require_secure and not request.secure then
		return nil, refuse(request, "insecure-connection", "plain HTTP and admin_rest_secure is set");
	end
	if not address_allowed(request.ip, whitelist) then
		return nil, refuse(request, "address-not-allowed", "address not in admin_rest_whitelist");
	end
	return authenticate(request);
end

--- Sessions, rosters and presence

local function user_jid(node) return node.."@"..host; end

local function user_sessions(node, session_host)
	local user = hosts[session_host or host].sessions[node];
	return user and user.sessions or {};
end

local function session_port(session)
	local conn = session.conn;
	if type(conn) ~= "table" or type(conn.clientport) ~= "function" then return nil; end
	local got, port = pcall(conn.clientport, conn);
	return got and tonumber(port) or nil;
end

local function session_info(session)
	return {
		resource = session.resource;
		jid = session.full_jid;
		secure = session.secure and true or false;
		ip = session.ip;
		port = session_port(session);
		id = session.id or session.streamid;
		priority = session.priority;
		available = session.presence ~= nil;
	};
end

local function sorted_keys(map)
	local keys = array();
	for key in pairs(map) do
		if type(key) == "string" then keys:push(key); end
	end
	table.sort(keys);
	return keys;
end

local function quoted(text)
	return text:find('[%c"\\]') and (text:gsub('[%c"\\]', escapes)) or text;
end

-- The roster as JSON text, each item in the form the protocol document shows:
-- ["item", {"jid", "subscription", "name"?, "ask"?, "group": [...]}]. Written straight
-- into one buffer rather than built as tables first: a roster may have thousands of
-- items, and this runs in Prosody's only thread.
local function roster_json(node)
	local roster, err = rostermanager.load_roster(node, host);
	if not roster then return nil, err; end
	local out, n, count = { "[" }, 1, 0;
	for _, contact in ipairs(sorted_keys(roster)) do
		local item = roster[contact];
		if type(item) == "table" and type(item.subscription) == "string" then
			count = count + 1;
			out[n + 1] = count > 1 and ',["item",{"jid":"' or '["item",{"jid":"';
			out[n + 2] = quoted(contact);
			out[n + 3] = '","subscription":"';
			out[n + 4] = quoted(item.subscription);
			n = n + 4;
			if type(item.name) == "string" then
				out[n + 1], out[n + 2] = '","name":"', quoted(item.name);
				n = n + 2;
			end
			if type(item.ask) == "string" then
				out[n + 1], out[n + 2] = '","ask":"', quoted(item.ask);
				n = n + 2;
			end
			out[n + 1] = '","group":[';
			n = n + 1;
			local groups = type(item.groups) == "table" and item.groups or {};
			local first = next(groups);
			if first ~= nil and next(groups, first) == nil then
				out[n + 1], out[n + 2], out[n + 3] = '"', quoted(tostring(first)), '"';
				n = n + 3;
			elseif first ~= nil then
				for i, group in ipairs(sorted_keys(groups)) do
					out[n + 1], out[n + 2], out[n + 3] = i > 1 and ',"' or '"', quoted(group), '"';
					n = n + 3;
				end
			end
			out[n + 1] = "]}]";
			n = n + 1;
		end
	end
	out[n + 1] = "]";
	return raw_json(table.concat(out)), count;
end

-- Each available session of one user tells the other user about its presence.
local function send_presence(from_node, from_host, to_jid, unavailable)
	for _, session in pairs(user_sessions(from_node, from_host)) do
		if session.presence then
			local presence = unavailable and st.presence({ type = "unavailable" }) or st.clone(session.presence);
			presence.attr.from, presence.attr.to = session.full_jid, to_jid;
			module:send(presence, session);
		end
	end
end

--- Commands: users

local function handle_ping()
	return ok("pong");
end

local function handle_get_user(ctx)
	local node, err = existing_user(ctx.params.user);
	if not node then return err; end
	local sessions = array();
	local user_sessions_map = user_sessions(node);
	for _, resource in ipairs(sorted_keys(user_sessions_map)) do
		sessions:push(session_info(user_sessions_map[resource]));
	end
	local roster = roster_json(node);
	if not roster then return fail("internal-server-error", "Could not load the roster"); end
	return ok({ user = {
		username = node; jid = user_jid(node);
		connected = #sessions > 0;
		sessions = sessions;
		roster = roster;
	} });
end

local function handle_user_connected(ctx)
	local node, err = existing_user(ctx.params.user);
	if not node then return err; end
	if next(user_sessions(node)) == nil then
		return fail("user-not-connected", ("%s is not connected"):format(user_jid(node)));
	end
	return ok({ connected = true, jid = user_jid(node) });
end

local function connected_users()
	local entries, count = array(), 0;
	local sessions = hosts[host].sessions;
	for _, node in ipairs(sorted_keys(sessions)) do
		local resources = sorted_keys(sessions[node].sessions or {});
		if #resources > 0 then count = count + 1; end
		for _, resource in ipairs(resources) do
			entries:push({ username = node, resource = resource, jid = node.."@"..host.."/"..resource });
		end
	end
	return entries, count;
end

local function handle_connected_users()
	local users, count = connected_users();
	return ok({ count = count, users = users });
end

local function handle_connected_count()
	local _, count = connected_users();
	return ok({ count = count });
end

local function handle_registered_users()
	local iterator, state, initial = usermanager.users(host);
	if type(iterator) ~= "function" then
		return fail("not-implemented", "The authentication provider cannot list accounts: "..tostring(state));
	end
	local users = array();
	for node in iterator, state, initial do
		if type(node) == "string" then users:push(node); end
	end
	table.sort(users);
	return ok({ count = #users, users = users });
end

local function valid_password(value)
	if type(value) ~= "string" or value == "" then
		return nil, fail("invalid-password", "\"password\" must be a non-empty string");
	end
	if not saslprep(value) then
		return nil, fail("invalid-password", "The password contains characters SASLprep forbids");
	end
	return value;
end

local account_details = module:open_store("account_details");

local function handle_add_user(ctx)
	local node, err = parse_username(ctx.params.user);
	if not node then return err; end
	local body, body_err = required_body(ctx.request, "object");
	if not body then return body_err; end
	local password, password_err = valid_password(body.password);
	if not password then return password_err; end
	local regip, regip_err = field(body, "regip", "string");
	if regip_err then return regip_err; end
	if regip and not new_ip(regip) then
		return fail("invalid-body", "\"regip\" must be an IP address");
	end

	if user_exists(node) then
		local changed, set_err = usermanager.set_password(node, password, host, nil);
		if not changed then
			module:log("warn", "Could not change the password of %s: %s", user_jid(node), tostring(set_err));
			return fail("internal-server-error", "Could not change the password");
		end
		module:log("info", "%s changed the password of %s", ctx.actor, user_jid(node));
		return ok({ username = node, jid = user_jid(node), created = false });
	end

	local created, create_err = usermanager.create_user(node, password, host);
	if not created then
		module:log("warn", "Could not create %s: %s", user_jid(node), tostring(create_err));
		return fail("internal-server-error", "Could not create the account");
	end
	if regip then
		local stored, store_err = account_details:set(node, { registered = os.time(), regip = regip });
		if not stored then
			-- Nothing half-done: without its details the account is removed again.
			usermanager.delete_user(node, host);
			module:log("warn", "Could not store the details of %s, account removed: %s", user_jid(node), tostring(store_err));
			return fail("internal-server-error", "Could not store the account details");
		end
	end
	module:log("info", "%s created the account %s", ctx.actor, user_jid(node));
	module:fire_event("user-registered", {
		username = node; host = host; source = module.name; ip = regip;
	});
	return ok({ username = node, jid = user_jid(node), created = true }, 201);
end

-- mod_c2s closes a deleted user's sessions when Prosody tells it; whatever is still
-- open afterwards (a session kept by some other module) is closed here.
local function close_sessions(node, condition, text)
	local open = {};
	for _, session in pairs(user_sessions(node)) do open[#open + 1] = session; end
	for _, session in ipairs(open) do
		if session.close then session:close({ condition = condition, text = text }); end
	end
end

local function forget_cached_roster(node)
	local cache = hosts[host].roster_cache;
	if cache then cache:set(user_jid(node), nil); end
end

local function handle_remove_user(ctx)
	local node, err = parse_username(ctx.params.user);
	if not node then return err; end
	if not user_exists(node) then
		return ok({ username = node, jid = user_jid(node), deleted = false });
	end
	local deleted, delete_err = usermanager.delete_user(node, host);
	if not deleted then
		module:log("warn", "Could not delete %s: %s", user_jid(node), tostring(delete_err));
		return fail("internal-server-error", "Could not delete the account");
	end
	close_sessions(node, "not-authorized", "Account deleted");
	forget_cached_roster(node);
	module:log("info", "%s deleted the account %s", ctx.actor, user_jid(node));
	return ok({ username = node, jid = user_jid(node), deleted = true });
end

-- Stores that describe the account itself: kept when a user's data is deleted.
local account_stores = { "accounts", "account_roles", "account_details" };

local function handle_purge_user_data(ctx)
	local node, err = existing_user(ctx.params.user);
	if not node then return err; end
	local kept = {};
	for _, store_name in ipairs(account_stores) do
		local value, get_err = storagemanager.open(host, store_name):get(node);
		if get_err then
			module:log("warn", "Could not read %s of %s: %s", store_name, user_jid(node), tostring(get_err));
			return fail("internal-server-error", "Could not read the account before deleting its data");
		end
		kept[store_name] = value;
	end
	close_sessions(node, "reset", "Stored data deleted by an administrator");
	storagemanager.purge(node, host);
	local restored = true;
	for store_name, value in pairs(kept) do
		local set_ok, set_err = storagemanager.open(host, store_name):set(node, value);
		if not set_ok then
			restored = false;
			module:log("error", "Could not restore %s of %s after deleting its data: %s", store_name, user_jid(node), tostring(set_err));
		end
	end
	forget_cached_roster(node);
	if not restored then return fail("internal-server-error", "The account could not be restored"); end
	module:log("info", "%s deleted the stored data of %s", ctx.actor, user_jid(node));
	return ok({ username = node, jid = user_jid(node), purged = true });
end

local patchable = { password = true };

local function handle_patch_user(ctx)
	local node, err = parse_username(ctx.params.user);
	if not node then return err; end
	local attribute = ctx.params.attribute;
	if attribute and not patchable[attribute] then
		return fail("unsupported-attribute", ("%q cannot be changed (supported: password)"):format(attribute));
	end
	local body, body_err = required_body(ctx.request, "object");
	if not body then return body_err; end
	for name in pairs(body) do
		if not patchable[name] or (attribute and name ~= attribute) then
			return fail("unsupported-attribute", ("%q cannot be changed here"):format(tostring(name)));
		end
	end
	if body.password == nil then
		return fail("invalid-body", "\"password\" is required");
	end
	local password, password_err = valid_password(body.password);
	if not password then return password_err; end
	if not user_exists(node) then
		return fail("user-not-found", ("No user %q on %s"):format(node, host));
	end
	local changed, set_err = usermanager.set_password(node, password, host, nil);
	if not changed then
		module:log("warn", "Could not change the password of %s: %s", user_jid(node), tostring(set_err));
		return fail("internal-server-error", "Could not change the password");
	end
	module:log("info", "%s changed the password of %s", ctx.actor, user_jid(node));
	return ok({ username = node, jid = user_jid(node), updated = array { "password" } });
end

--- Commands: rosters

local function handle_get_roster(ctx)
	local node, err = existing_user(ctx.params.user);
	if not node then return err; end
	local roster, count = roster_json(node);
	if not roster then return fail("internal-server-error", "Could not load the roster"); end
	return ok({ count = count, roster = roster });
end

-- A contact: a bare JID (the document answers 404 for a malformed one).
local function parse_contact(text)
	local contact = type(text) == "string" and jid_util.prep(text);
	if not contact or jid_util.resource(contact) or not jid_util.node(contact) then
		return nil, fail("invalid-jid", ("%q is not a valid bare JID of a user"):format(tostring(text)));
	end
	return contact;
end

local function groups_field(body)
	local groups = body.groups;
	if groups == nil or groups == json.null then return nil; end
	if not is_array(groups) then
		return nil, fail("invalid-body", "\"groups\" must be an array of strings");
	end
	local set = {};
	for _, name in ipairs(groups) do
		if type(name) ~= "string" or name == "" or not xml_text(name) then
			return nil, fail("invalid-body", "\"groups\" must be an array of non-empty strings");
		end
		set[name] = true;
	end
	return set;
end

-- Sets one roster item and pushes it; returns the previous item to undo with.
local function set_roster_item(owner, owner_host, contact, item)
	local roster = rostermanager.load_roster(owner, owner_host);
	if not roster then return nil, "could not load the roster"; end
	local previous = roster[contact];
	roster[contact] = item;
	local saved, err = rostermanager.save_roster(owner, owner_host, roster, contact);
	if not saved then
		roster[contact] = previous;
		return nil, err or "could not save the roster";
	end
	rostermanager.roster_push(owner, owner_host, contact);
	return true, previous;
end

local function mutual_item(existing, name, groups)
	return {
		subscription = "both";
		name = name or (existing and existing.name);
		groups = groups or (existing and existing.groups) or {};
	};
end

local function handle_add_contact(ctx)
	local node, err = parse_username(ctx.params.user);
	if not node then return err; end
	local body, body_err = required_body(ctx.request, "object");
	if not body then return body_err; end
	local contact_text, contact_err = field(body, "contact", "string", true);
	if not contact_text then return contact_err; end
	local name, name_err = field(body, "name", "string");
	if name_err then return name_err; end
	local groups, groups_err = groups_field(body);
	if groups_err then return groups_err; end
	local contact, parse_err = parse_contact(contact_text);
	if not contact then return parse_err; end
	if not user_exists(node) then
		return fail("user-not-found", ("No user %q on %s"):format(node, host));
	end
	local contact_node, contact_host = jid_util.split(contact);
	if not is_local_host(contact_host) or not usermanager.user_exists(contact_node, contact_host) then
		return fail("contact-not-found", ("%s is not a user of this server"):format(contact));
	end
	if contact == user_jid(node) then
		return fail("invalid-body", "A user cannot be their own contact");
	end

	local owner_roster = rostermanager.load_roster(node, host);
	local contact_roster = rostermanager.load_roster(contact_node, contact_host);
	if not owner_roster or not contact_roster then
		return fail("internal-server-error", "Could not load the rosters");
	end
	local set_ok, previous = set_roster_item(node, host, contact, mutual_item(owner_roster[contact], name, groups));
	if not set_ok then return fail("internal-server-error", "Could not save the roster: "..tostring(previous)); end
	local back_ok, back_err = set_roster_item(contact_node, contact_host, user_jid(node),
		mutual_item(contact_roster[user_jid(node)]));
	if not back_ok then
		set_roster_item(node, host, contact, previous); -- undo the first half
		return fail("internal-server-error", "Could not save the contact's roster: "..tostring(back_err));
	end
	send_presence(node, host, contact, false);
	send_presence(contact_node, contact_host, user_jid(node), false);
	module:log("info", "%s made %s and %s contacts", ctx.actor, user_jid(node), contact);
	return ok({ jid = user_jid(node), contact = contact, subscription = "both" });
end

local function remove_contact(ctx, contact_text)
	local node, err = parse_username(ctx.params.user);
	if not node then return err; end
	local contact, parse_err = parse_contact(contact_text);
	if not contact then return parse_err; end
	if not user_exists(node) then
		return fail("user-not-found", ("No user %q on %s"):format(node, host));
	end
	local roster = rostermanager.load_roster(node, host);
	if not roster then return fail("internal-server-error", "Could not load the roster"); end
	local item = roster[contact];
	if not item then
		return fail("contact-not-found", ("%s is not in the roster of %s"):format(contact, user_jid(node)));
	end
	local removed, remove_err = set_roster_item(node, host, contact, nil);
	if not removed then return fail("internal-server-error", "Could not save the roster: "..tostring(remove_err)); end
	local contact_node, contact_host = jid_util.split(contact);
	if is_local_host(contact_host) then
		local contact_roster = rostermanager.load_roster(contact_node, contact_host);
		if contact_roster and contact_roster[user_jid(node)] then
			local back_ok, back_err = set_roster_item(contact_node, contact_host, user_jid(node), nil);
			if not back_ok then
				set_roster_item(node, host, contact, item); -- undo the first half
				return fail("internal-server-error", "Could not save the contact's roster: "..tostring(back_err));
			end
		end
		send_presence(node, host, contact, true);
		send_presence(contact_node, contact_host, user_jid(node), true);
	else
		-- A remote contact learns of it as it would from the user's own client.
		local subscription = item.subscription;
		if subscription == "both" or subscription == "to" or item.ask then
			module:send(st.presence({ from = user_jid(node), to = contact, type = "unsubscribe" }));
		end
		if subscription == "both" or subscription == "from" then
			module:send(st.presence({ from = user_jid(node), to = contact, type = "unsubscribed" }));
		end
	end
	module:log("info", "%s removed %s from the roster of %s", ctx.actor, contact, user_jid(node));
	return ok({ jid = user_jid(node), contact = contact, removed = true });
end

local function handle_remove_contact(ctx)
	local body, body_err = required_body(ctx.request, "object");
	if not body then return body_err; end
	local contact_text, contact_err = field(body, "contact", "string", true);
	if not contact_text then return contact_err; end
	return remove_contact(ctx, contact_text);
end

local function handle_remove_contact_in_path(ctx)
	return remove_contact(ctx, ctx.params.contact);
end

--- Commands: vCards (mod_vcard's store)

local vcards = module:open_store("vcard");

local function handle_get_vcard(ctx)
	local node, err = existing_user(ctx.params.user);
	if not node then return err; end
	local data, get_err = vcards:get(node);
	if get_err then return fail("internal-server-error", "Could not read the vCard"); end
	if not data then return fail("vcard-not-found", ("%s has no vCard"):format(user_jid(node))); end
	return ok({ jid = user_jid(node), vcard = tostring(st.deserialize(data)) });
end

local function vcard_from_request(request)
	local mime = media_type(request);
	local text;
	if mime == "application/xml" or mime == "text/xml" then
		text = request.body;
	else
		local body, err = required_body(request, "object");
		if not body then
			if err.condition == "unsupported-media-type" then
				err.text = "Content-Type must be application/json or application/xml";
			end
			return nil, err;
		end
		local vcard_err;
		text, vcard_err = field(body, "vcard", "string", true);
		if not text then return nil, vcard_err; end
	end
	if text == nil or text == "" then return nil, fail("invalid-vcard", "A vCard is required"); end
	local vcard = xml_parse(text);
	if not vcard or vcard.name ~= "vCard" or vcard.attr.xmlns ~= "vcard-temp" then
		return nil, fail("invalid-vcard");
	end
	return vcard;
end

local function handle_set_vcard(ctx)
	local node, err = parse_username(ctx.params.user);
	if not node then return err; end
	local vcard, vcard_err = vcard_from_request(ctx.request);
	if not vcard then return vcard_err; end
	if not user_exists(node) then
		return fail("user-not-found", ("No user %q on %s"):format(node, host));
	end
	local stored, store_err = vcards:set(node, st.preserialize(vcard));
	if not stored then
		module:log("warn", "Could not store the vCard of %s: %s", user_jid(node), tostring(store_err));
		return fail("internal-server-error", "Could not store the vCard");
	end
	module:log("info", "%s set the vCard of %s", ctx.actor, user_jid(node));
	return ok({ jid = user_jid(node), vcard = tostring(vcard) });
end

local function handle_delete_vcard(ctx)
	local node, err = existing_user(ctx.params.user);
	if not node then return err; end
	local had = vcards:get(node) ~= nil;
	local removed, remove_err = vcards:set(node, nil);
	if not removed then
		module:log("warn", "Could not delete the vCard of %s: %s", user_jid(node), tostring(remove_err));
		return fail("internal-server-error", "Could not delete the vCard");
	end
	return ok({ jid = user_jid(node), deleted = had });
end

--- Commands: messages

local function chat_message(to, text)
	return st.message({ type = "chat", from = host, to = to, id = new_id() }):text_tag("body", text);
end

-- Routes one message to a user of this host as any stanza from the server would go.
-- Returns "delivered" (an available resource got it), "stored" (offline storage took
-- it) or nil and the error. A bounce is caught by the origin the message is sent from.
local function deliver(node, text)
	local user = prosody.bare_sessions[user_jid(node)];
	local online = user ~= nil and user.top_resources ~= nil and #user.top_resources > 0;
	local bounce;
	local origin = setmetatable({
		send = function (reply)
			if type(reply) == "table" and reply.attr and reply.attr.type == "error" then bounce = reply; end
			return true;
		end;
	}, { __index = hosts[host] });
	module:send(chat_message(user_jid(node), text), origin);
	if bounce then
		local _, condition = bounce:get_error();
		return nil, fail("not-stored", ("%s is offline and the message was refused (%s)"):format(user_jid(node), tostring(condition)));
	end
	return online and "delivered" or "stored";
end

local function handle_message(ctx)
	local node, err = parse_username(ctx.params.user);
	if not node then return err; end
	local body, body_err = required_body(ctx.request, "object");
	if not body then return body_err; end
	local text, text_err = field(body, "message", "string", true);
	if not text then return text_err; end
	if not user_exists(node) then
		return fail("user-not-found", ("No user %q on %s"):format(node, host));
	end
	local outcome, deliver_err = deliver(node, message_prefix..text);
	if not outcome then return deliver_err; end
	return ok({ jid = user_jid(node), delivered = outcome == "delivered", stored = outcome == "stored" },
		outcome == "delivered" and 200 or 202);
end

local function handle_multicast(ctx)
	local body, body_err = required_body(ctx.request, "array");
	if not body then return body_err; end
	-- The whole body is checked before anything is sent.
	for i, entry in ipairs(body) do
		if not is_object(entry) or type(entry.to) ~= "string" or type(entry.message) ~= "string" or entry.message == ""
			or not xml_text(entry.message) then
			return fail("invalid-body", ("Item %d must be an object with string \"to\" and non-empty \"message\""):format(i));
		end
	end
	if #body == 0 then return fail("invalid-body", "The array holds no message"); end
	local sent, delayed, failed = 0, 0, array();
	for _, entry in ipairs(body) do
		local node, err = parse_username(entry.to);
		if node and not user_exists(node) then
			err = fail("user-not-found", ("No user %q on %s"):format(node, host));
		end
		local outcome;
		if not err then outcome, err = deliver(node, multicast_prefix..entry.message); end
		if outcome == "delivered" then
			sent = sent + 1;
		elseif outcome == "stored" then
			delayed = delayed + 1;
		else
			failed:push({ to = entry.to, error = { code = err.code, condition = err.condition, text = err.text } });
		end
	end
	local summary = { sent = sent, delayed = delayed, failed = failed };
	if sent + delayed == 0 then
		local err = fail("no-recipients");
		return json_response(404, {
			error = { code = 404, condition = err.condition, text = err.text };
			sent = 0, delayed = 0, failed = failed;
		});
	end
	return ok(("Message multicasted to users: %d/%d"):format(sent, delayed), 200, summary);
end

local function handle_broadcast(ctx)
	local body, body_err = required_body(ctx.request, "object");
	if not body then return body_err; end
	local text, text_err = field(body, "message", "string", true);
	if not text then return text_err; end
	local reached = 0;
	local sessions = hosts[host].sessions;
	for _, node in ipairs(sorted_keys(sessions)) do
		local got_it = false;
		for _, session in pairs(sessions[node] and sessions[node].sessions or {}) do
			if session.full_jid then
				module:send(chat_message(session.full_jid, broadcast_prefix..text));
				got_it = true;
			end
		end
		if got_it then reached = reached + 1; end
	end
	module:log("info", "%s broadcast a message to %d users", ctx.actor, reached);
	return ok({ count = reached });
end

--- Commands: modules

local function module_name(text)
	if type(text) ~= "string" or not text:match("^[%w_%-%.]+$") or #text > 100 then
		return nil, fail("invalid-module-name");
	end
	return text;
end

local function handle_get_module(ctx)
	local name, err = module_name(ctx.params.module);
	if not name then return err; end
	if not modulemanager.is_loaded(host, name) then
		return fail("module-not-loaded", ("%s is not loaded on %s"):format(name, host));
	end
	return ok({ module = name, loaded = true });
end

local function handle_list_modules()
	local names = sorted_keys(modulemanager.get_modules(host) or {});
	return ok({ count = #names, modules = names });
end

local function handle_load_module(ctx)
	local name, err = module_name(ctx.params.module);
	if not name then return err; end
	if not modulemanager.loader:load_resource(name) then
		return fail("module-not-found", ("No module %q is installed"):format(name));
	end
	local action = modulemanager.is_loaded(host, name) and "reloaded" or "loaded";
	local done, load_err;
	if action == "reloaded" then
		done, load_err = modulemanager.reload(host, name);
	else
		done, load_err = modulemanager.load(host, name);
	end
	if not done then
		return fail("internal-server-error", ("Could not load %s: %s"):format(name, tostring(load_err)));
	end
	module:log("info", "%s %s module %s", ctx.actor, action, name);
	return ok({ module = name, loaded = true, action = action });
end

local function handle_unload_module(ctx)
	local name, err = module_name(ctx.params.module);
	if not name then return err; end
	if not modulemanager.is_loaded(host, name) then
		return fail("module-not-loaded", ("%s is not loaded on %s"):format(name, host));
	end
	local done, unload_err = modulemanager.unload(host, name);
	if not done then
		return fail("internal-server-error", ("Could not unload %s: %s"):format(name, tostring(unload_err)));
	end
	module:log("info", "%s unloaded module %s", ctx.actor, name);
	return ok({ module = name, loaded = false });
end

--- Commands: whitelist and reload

local function whitelist_result()
	local texts = whitelist_texts();
	return ok({ whitelist = texts, count = #texts, enabled = whitelist ~= nil });
end

local function handle_get_whitelist()
	return whitelist_result();
end

-- Applies a new list unless the caller's own address would be refused by it.
local function replace_whitelist(ctx, ranges)
	if not address_allowed(ctx.request.ip, ranges) then
		return fail("whitelist-lockout", ("The whitelist would no longer allow %s, the address of this request")
			:format(tostring(ctx.request.ip)));
	end
	whitelist = ranges;
	return whitelist_result();
end

local function handle_whitelist_add(ctx)
	local range = parse_range(ctx.params.entry);
	if not range then
		return fail("invalid-address", ("%q is not an IP address or CIDR range"):format(tostring(ctx.params.entry)));
	end
	local ranges = {};
	for _, existing in ipairs(whitelist or {}) do
		if same_range(existing, range) then return whitelist_result(); end
		ranges[#ranges + 1] = existing;
	end
	ranges[#ranges + 1] = range;
	local response = replace_whitelist(ctx, ranges);
	if whitelist == ranges then module:log("info", "%s added %s to the whitelist", ctx.actor, range.text); end
	return response;
end

local function handle_whitelist_remove(ctx)
	local range = parse_range(ctx.params.entry);
	if not range then
		return fail("invalid-address", ("%q is not an IP address or CIDR range"):format(tostring(ctx.params.entry)));
	end
	local ranges, found = {}, false;
	for _, existing in ipairs(whitelist or {}) do
		if same_range(existing, range) then found = true; else ranges[#ranges + 1] = existing; end
	end
	if not found then
		return fail("not-in-whitelist", ("%s is not in the whitelist"):format(range.text));
	end
	local response = replace_whitelist(ctx, ranges);
	if whitelist == ranges then module:log("info", "%s removed %s from the whitelist", ctx.actor, range.text); end
	return response;
end

local function handle_reload(ctx)
	if type(prosody.reload_config) ~= "function" then
		return fail("not-implemented", "This process cannot reload its configuration");
	end
	module:log("info", "%s asked for a configuration reload", ctx.actor);
	local reloaded, err = prosody.reload_config();
	if not reloaded then
		return fail("internal-server-error", "The configuration could not be reloaded: "..tostring(err));
	end
	return ok({ reloaded = true });
end

--- Commands: groups (mod_groups_internal's API)

local function groups_api()
	local groups = modulemanager.get_module(host, "groups_internal");
	if not groups or type(groups.create) ~= "function" then
		return nil, fail("groups-unavailable");
	end
	return groups;
end

local function group_id_of(text)
	if type(text) ~= "string" or not text:match("^[%w%-_%.~]+$") or #text > 128 then
		return nil, fail("invalid-group-id", ("%q is not a valid group id (letters, digits, -_.~)"):format(tostring(text)));
	end
	return text;
end

local group_error_names = {
	["group-not-found"] = "group-not-found";
	["conflict"] = "group-exists";
	["group-name-required"] = "invalid-body";
	["service-unavailable"] = "muc-unavailable";
};

local function group_failure(err, group_id)
	local name = group_error_names[err] or "internal-server-error";
	if name == "internal-server-error" then
		module:log("warn", "mod_groups_internal failed on group %s: %s", tostring(group_id), tostring(err));
	end
	return fail(name);
end

local function handle_create_group(ctx)
	local groups, api_err = groups_api();
	if not groups then return api_err; end
	local body, body_err = required_body(ctx.request, "object");
	if not body then return body_err; end
	local name, name_err = field(body, "name", "string", true);
	if not name then return name_err; end
	local create_muc, muc_err = field(body, "create_default_muc", "boolean");
	if muc_err then return muc_err; end
	local body_group_id, id_err = field(body, "group_id", "string");
	if id_err then return id_err; end
	local group_id = ctx.params.group or body_group_id;
	if group_id then
		local valid_err;
		group_id, valid_err = group_id_of(group_id);
		if not group_id then return valid_err; end
		if groups.exists(group_id) then
			return fail("group-exists", ("A group %q exists"):format(group_id));
		end
	end
	local created, create_err = groups.create({ name = name }, create_muc, group_id);
	if not created then return group_failure(create_err, group_id); end
	module:log("info", "%s created group %s", ctx.actor, created);
	local info = groups.get_info(created) or {};
	return ok({ group_id = created, name = name, muc_jid = info.muc_jid }, 200, { group_id = created });
end

local function existing_group(ctx)
	local groups, api_err = groups_api();
	if not groups then return nil, api_err; end
	local group_id, id_err = group_id_of(ctx.params.group);
	if not group_id then return nil, id_err; end
	if not groups.exists(group_id) then
		return nil, fail("group-not-found", ("No group %q"):format(group_id));
	end
	return groups, group_id;
end

local function handle_list_groups()
	local groups, api_err = groups_api();
	if not groups then return api_err; end
	local ids = array();
	for group_id in groups.groups() do ids:push(group_id); end
	table.sort(ids);
	return ok({ count = #ids, groups = ids });
end

local function handle_get_group(ctx)
	local groups, group_id = existing_group(ctx);
	if not groups then return group_id; end
	local info = groups.get_info(group_id) or {};
	local members = sorted_keys(groups.get_members(group_id) or {});
	return ok({ group_id = group_id, name = info.name, muc_jid = info.muc_jid, members = members });
end

local function handle_delete_group(ctx)
	local groups, group_id = existing_group(ctx);
	if not groups then return group_id; end
	local deleted, err = groups.delete(group_id);
	if not deleted then return group_failure(err, group_id); end
	module:log("info", "%s deleted group %s", ctx.actor, group_id);
	return ok(("Group '%s' deleted successfully."):format(group_id));
end

local function handle_add_member(ctx)
	local body, body_err = read_json(ctx.request, "object");
	if body_err then return body_err; end
	local delay_update, delay_err = field(body, "delay_update", "boolean");
	if delay_err then return delay_err; end
	local node, user_err = parse_username(ctx.params.member);
	if not node then return user_err; end
	local groups, group_id = existing_group(ctx);
	if not groups then return group_id; end
	if not user_exists(node) then
		return fail("user-not-found", ("No user %q on %s"):format(node, host));
	end
	local added, err = groups.add_member(group_id, node, delay_update);
	if not added then return group_failure(err, group_id); end
	module:log("info", "%s added %s to group %s", ctx.actor, user_jid(node), group_id);
	return ok(("Member '%s' successfully added to group '%s'."):format(node, group_id));
end

local function handle_remove_member(ctx)
	local node, user_err = parse_username(ctx.params.member);
	if not node then return user_err; end
	local groups, group_id = existing_group(ctx);
	if not groups then return group_id; end
	if not (groups.get_members(group_id) or {})[node] then
		return fail("member-not-found", ("%s is not a member of group %q"):format(user_jid(node), group_id));
	end
	local removed, err = groups.remove_member(group_id, node);
	if not removed then return group_failure(err, group_id); end
	module:log("info", "%s removed %s from group %s", ctx.actor, user_jid(node), group_id);
	return ok(("Member '%s' successfully removed from group '%s'."):format(node, group_id));
end

--- Routing: one dispatcher per method, so that a known path with another method
--- answers 405 with Allow rather than Prosody's 404.

-- Segments: a literal, ":name" (one segment) or "*name" (the rest of the path).
-- See resolve() for which route wins when several match.
local routes = {
	{ "ping", GET = handle_ping };
	{ "users", GET = handle_connected_users };
	{ "users", "count", GET = handle_connected_count };
	{ "users", "registered", GET = handle_registered_users };
	{ "user", ":user", GET = handle_get_user, POST = handle_add_user, DELETE = handle_remove_user, PATCH = handle_patch_user };
	{ "user", ":user", "connected", GET = handle_user_connected };
	{ "user", ":user", "data", DELETE = handle_purge_user_data };
	{ "user", ":user", ":attribute", PATCH = handle_patch_user };
	{ "roster", ":user", GET = handle_get_roster, POST = handle_add_contact, PUT = handle_add_contact,
		DELETE = handle_remove_contact };
	{ "roster", ":user", ":contact", DELETE = handle_remove_contact_in_path };
	{ "vcard", ":user", GET = handle_get_vcard, PUT = handle_set_vcard, DELETE = handle_delete_vcard };
	{ "message", POST = handle_multicast };
	{ "message", ":user", POST = handle_message };
	{ "broadcast", POST = handle_broadcast };
	{ "modules", GET = handle_list_modules };
	{ "module", ":module", GET = handle_get_module, PUT = handle_load_module, DELETE = handle_unload_module };
	{ "whitelist", GET = handle_get_whitelist };
	{ "whitelist", "*entry", PUT = handle_whitelist_add, DELETE = handle_whitelist_remove };
	{ "reload", PUT = handle_reload };
	{ "groups", GET = handle_list_groups, PUT = handle_create_group };
	{ "groups", ":group", GET = handle_get_group, PUT = handle_create_group, DELETE = handle_delete_group };
	{ "groups", ":group", "members", ":member", PUT = handle_add_member, DELETE = handle_remove_member };
	-- The document's own spelling of "user connected", for names that are not commands.
	{ ":user", "connected", GET = handle_user_connected };
};

local methods = { "GET", "POST", "PUT", "PATCH", "DELETE" };

local function split_path(path)
	local segments = {};
	for segment in (path or ""):gsub("/+$", ""):gmatch("[^/]+") do
		segments[#segments + 1] = segment;
	end
	return segments;
end

-- Returns the parameters when `route` matches the segments, else nil.
local function match_route(route, segments)
	local params = {};
	for i, pattern in ipairs(route) do
		local kind, name = pattern:sub(1, 1), pattern:sub(2);
		if kind == "*" then
			if i > #segments then return nil; end
			params[name] = table.concat(segments, "/", i);
			return params;
		end
		local segment = segments[i];
		if segment == nil then return nil; end
		if kind == ":" then
			params[name] = segment;
		elseif segment ~= pattern then
			return nil;
		end
	end
	if #segments ~= #route then return nil; end
	return params;
end

local function literal_count(route)
	local count = 0;
	for _, pattern in ipairs(route) do
		if not pattern:match("^[:*]") then count = count + 1; end
	end
	return count;
end

-- Among the routes matching the path only the most specific ones (most literal
-- segments) count: PATCH .../user/john/connected is a 405, not an attribute "connected".
local function resolve(method, path)
	local segments = split_path(path);
	local matching, best = {}, -1;
	for _, route in ipairs(routes) do
		local params = match_route(route, segments);
		if params then
			local specificity = literal_count(route);
			if specificity > best then matching, best = {}, specificity; end
			if specificity == best then matching[#matching + 1] = { route = route, params = params }; end
		end
	end
	local allowed = {};
	for _, found in ipairs(matching) do
		if found.route[method] then return found.route[method], found.params; end
		for _, name in ipairs(methods) do
			if found.route[name] then allowed[name] = true; end
		end
	end
	if next(allowed) == nil then return nil, fail("route-not-found"); end
	local allow = {};
	for _, name in ipairs(methods) do
		if allowed[name] then
			allow[#allow + 1] = name;
			if name == "GET" then allow[#allow + 1] = "HEAD"; end
		end
	end
	return nil, fail("method-not-allowed"), table.concat(allow, ", ");
end

local function respond(ctx_err, allow)
	local headers;
	if ctx_err.code == 401 then
		headers = { www_authenticate = ("Basic realm=%q, charset=\"UTF-8\""):format(host.." admin_rest") };
	elseif allow then
		headers = { allow = allow };
	end
	return error_response(ctx_err, headers);
end

local function process(method, event, path)
	local request = event.request;
	local actor, err = admit(request);
	if not actor then return respond(err); end
	local handler, params, allow = resolve(method, path);
	if not handler then return respond(params, allow); end
	if request.body and #request.body > max_body_size then
		return respond(fail("body-too-large", ("The body is larger than %d bytes"):format(max_body_size)));
	end
	local result = handler({ request = request, params = params, actor = actor });
	if errors.is_err(result) then return respond(result); end
	return result;
end

local function dispatcher(method)
	return function (event, path)
		local done, response = xpcall(process, debug.traceback, method, event, path);
		if not done then
			module:log("error", "Traceback[admin_rest] %s %s: %s", method, event.request.path, response);
			return error_response(fail("internal-server-error"));
		end
		return response;
	end;
end

-- TRACE and QUERY too, so that they get this API's 405 rather than Prosody's HTML 404. OPTIONS is
-- left to mod_http (CORS preflight); HEAD is served by the GET routes.
local http_routes = {};
for _, method in ipairs({ "GET", "POST", "PUT", "PATCH", "DELETE", "TRACE", "QUERY" }) do
	http_routes[method.." /*"] = dispatcher(method);
end

--- Keeping run-time whitelist changes across a module reload and a config reload

function module.save()
	return { whitelist = whitelist, fingerprint = whitelist_fingerprint };
end

function module.restore(data)
	if type(data) == "table" and data.fingerprint == whitelist_fingerprint and not whitelist_error then
		whitelist = data.whitelist;
	end
end

module:hook_global("config-reloaded", function ()
	local fingerprint = option_fingerprint();
	if fingerprint == whitelist_fingerprint then return; end
	local ranges, err = configured_whitelist();
	if err then
		module:log("error", "Configuration error after reload, keeping the previous whitelist: %s", err);
		return;
	end
	whitelist, whitelist_fingerprint = ranges, fingerprint;
	module:log("info", "admin_rest_whitelist changed in the configuration; run-time changes replaced");
end);

module:provides("http", {
	name = "admin_rest";
	default_path = base_path;
	route = http_routes;
});
