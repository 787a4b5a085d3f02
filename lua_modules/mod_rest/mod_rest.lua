-- mod_rest: send stanzas over HTTP (POST /rest, GET /rest/{query}/{to}) and receive them
-- through a webhook (rest_callback_url). Loads on a VirtualHost (the caller acts as one of
-- its users) or as a Component (the caller acts as the component). See README.markdown.

local base64 = require "util.encodings".base64;
local errors = require "util.error";
local hashes = require "util.hashes";
local http = require "net.http";
local http_util = require "util.http";
local id = require "util.id";
local jid = require "util.jid";
local json = require "util.json";
local set = require "util.set";
local st = require "util.stanza";
local stringprep = require "util.encodings".stringprep;
local valid_utf8 = require "util.encodings".utf8.valid;
local xml = require "util.xml";
local rostermanager = require "core.rostermanager";
local usermanager = require "core.usermanager";

local jsonmap = module:require "jsonmap";
local prep_jid = jsonmap.prep_jid;

local core_post_stanza = prosody.core_post_stanza;

local XML_TYPE = "application/xmpp+xml";
local JSON_TYPE = "application/json";
local FORM_TYPE = "application/x-www-form-urlencoded";
local TEXT_TYPE = "text/plain";
local XML_ALIASES = { [XML_TYPE] = true, ["application/xml"] = true, ["text/xml"] = true };
local NS_CLIENT = "jabber:client";
local NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
local MAX_XML_DEPTH = 1000;
local MAX_ERROR_TEXT = 1024;

local is_component = module:get_host_type() == "component";

-- Configuration -----------------------------------------------------------------------------

local function config_error(fmt, ...)
	module:log("error", "Configuration error: " .. fmt, ...);
end

local function read_positive(name, default, unit)
	local value = module:get_option(name, default);
	local number = tonumber(value);
	if not number or number <= 0 or number ~= number or number == math.huge then
		config_error("%s must be a positive number of %s, got %s; using %s", name, unit, tostring(value), default);
		return default;
	end
	return number;
end

local function read_set(name, default, allowed)
	local value = module:get_option(name, default);
	local ok = true;
	if type(value) == "string" then value = { value }; end
	if type(value) ~= "table" then
		config_error("%s must be a list, got %s", name, type(value));
		value, ok = default, false;
	end
	local result = set.new();
	for _, item in ipairs(value) do
		local key = type(item) == "string" and item:lower();
		if key and allowed[key] then
			result:add(key);
		else
			config_error("%s: unknown entry %s (expected one of: %s)", name, tostring(item),
				table.concat(allowed, ", "));
			ok = false;
		end
	end
	return result, ok;
end

local function allowed_list(...)
	local list = { ... };
	for _, item in ipairs(list) do list[item] = true; end
	return list;
end

local stanza_size_limit = math.floor(read_positive("rest_stanza_size_limit", 192 * 1024, "bytes"));
local iq_timeout = read_positive("rest_iq_timeout", 120, "seconds");
local iq_max_timeout = read_positive("rest_iq_max_timeout", 300, "seconds");
local auth_mechanisms = read_set("rest_auth_mechanisms", { "Basic", "Bearer" }, allowed_list("basic", "bearer"));

local www_authenticate;
do
	local challenges = {};
	for _, mechanism in ipairs({ "Basic", "Bearer" }) do
		if auth_mechanisms:contains(mechanism:lower()) then
			table.insert(challenges, ("%s realm=%q"):format(mechanism, module.host .. "/rest"));
		end
	end
	www_authenticate = table.concat(challenges, ", ");
end

-- Errors ------------------------------------------------------------------------------------

local rest_errors = errors.init(module.name, {
	noauthz = { code = 401; type = "auth"; condition = "not-authorized"; text = "No credentials provided" };
	mechanism = { code = 401; type = "auth"; condition = "not-authorized";
		text = "Authentication scheme not accepted here" };
	malformauthz = { code = 403; type = "auth"; condition = "not-authorized"; text = "Credentials malformed" };
	unauthz = { code = 403; type = "auth"; condition = "not-authorized"; text = "Credentials not accepted" };
	from_auth = { code = 403; type = "auth"; condition = "forbidden";
		text = "Not authorized to send stanzas with this 'from'" };
	parse = { code = 400; type = "modify"; condition = "bad-request"; text = "The payload could not be parsed" };
	header = { code = 400; type = "modify"; condition = "bad-request"; text = "Invalid request header" };
	path = { code = 404; type = "cancel"; condition = "item-not-found"; text = "Unknown path" };
	method = { code = 405; type = "cancel"; condition = "not-allowed"; text = "Method not allowed" };
	accept = { code = 406; type = "modify"; condition = "not-acceptable";
		text = "None of the media types in Accept can be produced; ask for " .. XML_TYPE .. " or " .. JSON_TYPE };
	conflict = { code = 409; type = "cancel"; condition = "conflict";
		text = "An iq with this id is already waiting for its reply" };
	size = { code = 413; type = "modify"; condition = "resource-constraint"; text = "Payload too large" };
	mediatype = { code = 415; type = "cancel"; condition = "feature-not-implemented";
		text = "Unsupported media type" };
	invalid = { code = 422; type = "modify"; condition = "bad-request"; text = "Invalid stanza" };
	xmlns = { code = 422; type = "modify"; condition = "bad-request";
		text = "The stanza's namespace must be jabber:client (or none)" };
	name = { code = 422; type = "modify"; condition = "bad-request";
		text = "The payload must be one message, presence or iq stanza" };
	to = { code = 422; type = "modify"; condition = "jid-malformed"; text = "Invalid destination JID" };
	from = { code = 422; type = "modify"; condition = "jid-malformed"; text = "Invalid source JID" };
	iq_type = { code = 422; type = "modify"; condition = "bad-request"; text = "An iq must be of type get or set" };
	iq_tags = { code = 422; type = "modify"; condition = "bad-request";
		text = "An iq must have exactly one child element" };
	internal = { code = 500; type = "wait"; condition = "internal-server-error"; text = "Internal error" };
	busy = { code = 503; type = "wait"; condition = "resource-constraint"; text = "Too many iqs waiting" };
});

-- A registry error with a more specific text.
local function rest_error(name, text)
	local err = rest_errors.new(name);
	if text then err.text = text; end
	return err;
end

-- Media types -------------------------------------------------------------------------------

-- "application/json; charset=utf-8" -> "application/json", "utf-8"
local function media_type(header)
	if not header then return nil; end
	local media, params = header:match("^%s*([^;%s]+)%s*(.*)$");
	if not media then return nil; end
	local charset = params:match(";%s*[cC][hH][aA][rR][sS][eE][tT]%s*=%s*\"?([^;\"%s]+)");
	return media:lower(), charset and charset:lower();
end

local function family(media)
	if XML_ALIASES[media] then return "xml"; elseif media == JSON_TYPE then return "json"; end
	return nil;
end

local function parse_accept(header)
	local ranges = {};
	for item in header:gmatch("[^,]+") do
		local media, params = item:match("^%s*([^;%s]+)%s*(.*)$");
		if media then
			local q = tonumber(params:match(";%s*[qQ]%s*=%s*([%d.]+)")) or 1;
			table.insert(ranges, { media = media:lower(), q = q });
		end
	end
	return ranges;
end

-- The q-value the most specific matching range gives `media`.
local function quality(ranges, media)
	local major = media:match("^[^/]+") .. "/*";
	local best_specificity, q = -1, 0;
	for _, range in ipairs(ranges) do
		local specificity = -1;
		if range.media == media then
			specificity = 2;
		elseif range.media == major then
			specificity = 1;
		elseif range.media == "*/*" then
			specificity = 0;
		end
		if specificity > best_specificity then
			best_specificity, q = specificity, range.q;
		end
	end
	return q;
end

-- The response type for an Accept header: XML or JSON (XML under the name the client used,
-- application/xml or text/xml, when it named one), nil when none is acceptable. Ties go to
-- the request's own family, then to XML.
local function negotiate(accept, preferred)
	if not accept or not accept:find("%S") then
		return preferred == "json" and JSON_TYPE or XML_TYPE;
	end
	local ranges = parse_accept(accept);
	local xml_candidates = {};
	for _, range in ipairs(ranges) do
		if XML_ALIASES[range.media] and range.media ~= XML_TYPE then
			table.insert(xml_candidates, range.media);
		end
	end
	table.insert(xml_candidates, XML_TYPE);
	local candidates = {};
	if preferred == "json" then table.insert(candidates, JSON_TYPE); end
	for _, media in ipairs(xml_candidates) do table.insert(candidates, media); end
	if preferred ~= "json" then table.insert(candidates, JSON_TYPE); end
	local best, best_q = nil, 0;
	for _, media in ipairs(candidates) do
		local q = quality(ranges, media);
		if q > best_q then best, best_q = media, q; end
	end
	return best;
end

-- Clients send the same few Accept headers again and again: answers are remembered (up to
-- 256, then the memory starts afresh).
local negotiations, negotiation_count = {}, 0;

local function choose_type(accept, preferred)
	local key = (accept or "") .. "\0" .. (preferred or "");
	local known = negotiations[key];
	if known == nil then
		known = negotiate(accept, preferred) or false;
		if negotiation_count >= 256 then negotiations, negotiation_count = {}, 0; end
		negotiations[key], negotiation_count = known, negotiation_count + 1;
	end
	return known or nil;
end

-- Response bodies ---------------------------------------------------------------------------

local function encode_stanza(media, stanza)
	if family(media) == "json" then
		return json.encode(jsonmap.to_object(stanza));
	end
	return tostring(stanza);
end

-- Written as text: building a util.stanza for it costs more than the rest of a refusal.
local function encode_error(media, err)
	if family(media) == "xml" then
		local text = err.text and ("<text xmlns='%s'>%s</text>"):format(NS_STANZAS, st.xml_escape(err.text)) or "";
		return ("<error type='%s' code='%d'><%s xmlns='%s'/>%s</error>"):format(
			err.type, err.code or 500, err.condition, NS_STANZAS, text);
	end
	return json.encode({
		type = "error", code = err.code,
		error = { type = err.type, condition = err.condition, text = err.text },
	});
end

local function send_response(response, status, media, body)
	if response.finished then return; end
	response.status_code = status;
	if media then response.headers.content_type = media; end
	response:send(body or "");
end

-- The type error bodies use: the negotiated type when there is one, else the request's own
-- family, else JSON.
local function error_media(request)
	local request_media = media_type(request.headers.content_type);
	local negotiated = choose_type(request.headers.accept, family(request_media));
	return negotiated or (family(request_media) == "xml" and XML_TYPE) or JSON_TYPE;
end

local function send_error(request, response, err)
	if err.code == 401 and www_authenticate ~= "" then
		response.headers.www_authenticate = www_authenticate;
	elseif err.code == 405 then
		response.headers.allow = "POST";
	end
	local media = error_media(request);
	send_response(response, err.code or 500, media, encode_error(media, err));
	return true;
end

-- Authentication ----------------------------------------------------------------------------
-- Each returns the caller { jid = bare JID or the component's domain } or nil and an error.

local auth_cache = not is_component and auth_mechanisms:contains("basic") and module:depends("http_auth_cache");
local tokens = not is_component and auth_mechanisms:contains("bearer") and module:depends("tokenauth");
local component_secret = is_component and module:get_option_string("component_secret");
-- Secrets are compared through a keyed hash, so the comparison time says nothing about them.
local compare_key = hashes.sha256(id.long() .. id.long());

local function same_secret(given, expected)
	return type(given) == "string" and type(expected) == "string"
		and hashes.hmac_sha256(compare_key, given) == hashes.hmac_sha256(compare_key, expected);
end

if is_component and (not component_secret or component_secret == "") then
	module:log("warn", "%s has no component_secret: every REST request will be refused", module.host);
end

local function check_component_secret(secret)
	if not component_secret or component_secret == "" then
		module:log("debug", "Refusing a REST request: no component_secret");
		return nil, rest_errors.new("unauthz");
	end
	if not same_secret(secret, component_secret) then
		return nil, rest_errors.new("unauthz");
	end
	return { jid = module.host, component = true };
end

local function check_basic(data)
	if not data:match("^[A-Za-z0-9+/]+=*$") then
		return nil, rest_errors.new("malformauthz");
	end
	local credentials = base64.decode(data);
	local username, password = (credentials or ""):match("^([^:]*):(.*)$");
	if not username or not valid_utf8(username) or not valid_utf8(password) then
		return nil, rest_errors.new("malformauthz");
	end
	if is_component then
		-- The component's domain (or nothing) as the user, component_secret as the password.
		if username ~= "" and jid.prep(username) ~= module.host then
			return nil, rest_errors.new("unauthz");
		end
		return check_component_secret(password);
	end
	-- "user" or "user@this.host"
	local node, host = username, module.host;
	if username:find("@", 1, true) then
		node, host = jid.split(username);
		host = host and jid.prep(host);
	end
	node = node and stringprep.nodeprep(node);
	password = stringprep.saslprep(password);
	if not node or node == "" or not password or host ~= module.host then
		return nil, rest_errors.new("unauthz");
	end
	if not auth_cache.test_password(node, password) then
		return nil, rest_errors.new("unauthz");
	end
	return { jid = node .. "@" .. module.host, username = node };
end

local function check_bearer(token)
	if is_component then
		return check_component_secret(token);
	end
	if not token:match("^[%w%-%._~+/:]+=*$") then
		return nil, rest_errors.new("malformauthz");
	end
	local session;
	-- rawget: reading a function mod_tokenauth does not define would log a warning.
	local get_token_session = rawget(tokens, "get_token_session");
	if get_token_session then -- Prosody 13
		if not token:match("^secret%-token:") then
			return nil, rest_errors.new("unauthz");
		end
		session = get_token_session(token);
	else -- Prosody 0.12
		local info = rawget(tokens, "get_token_info")(token);
		session = info and info.session;
	end
	if not session or session.host ~= module.host or not session.username then
		return nil, rest_errors.new("unauthz");
	end
	return { jid = session.username .. "@" .. module.host, username = session.username };
end

local function authenticate(request)
	local header = request.headers.authorization;
	if not header then
		return nil, rest_errors.new("noauthz");
	end
	local scheme, data = header:match("^%s*(%S+)%s+(%S+)%s*$");
	scheme = scheme and scheme:lower();
	if not scheme or not auth_mechanisms:contains(scheme) then
		return nil, rest_errors.new("mechanism");
	end
	if scheme == "basic" then
		return check_basic(data);
	end
	return check_bearer(data);
end

-- Parsing requests into stanzas -------------------------------------------------------------

local function xml_depth_ok(element)
	local stack = { { element, 1 } };
	while #stack > 0 do
		local item = table.remove(stack);
		if item[2] > MAX_XML_DEPTH then return false; end
		for _, child in ipairs(item[1].tags) do
			table.insert(stack, { child, item[2] + 1 });
		end
	end
	return true;
end

-- Drops xmlns="jabber:client" where it only repeats what the stanza already means, giving
-- the shape Prosody's stream parser gives stanzas received from clients.
local function normalise_namespaces(element, inside_client)
	for _, child in ipairs(element.tags) do
		if inside_client and child.attr.xmlns == NS_CLIENT then
			child.attr.xmlns = nil;
		end
		normalise_namespaces(child, inside_client and child.attr.xmlns == nil);
	end
end

local function parse_xml(text)
	local ok, stanza, err = pcall(xml.parse, text);
	if not ok or not stanza then
		return nil, rest_error("parse", "The payload is not well-formed XML: " .. tostring(ok and err or "parser error"));
	end
	if not xml_depth_ok(stanza) then
		return nil, rest_error("invalid", ("The payload nests elements deeper than %d levels"):format(MAX_XML_DEPTH));
	end
	if stanza.attr.xmlns ~= nil and stanza.attr.xmlns ~= NS_CLIENT then
		return nil, rest_errors.new("xmlns");
	end
	stanza.attr.xmlns = nil;
	normalise_namespaces(stanza, true);
	return stanza;
end

-- The common payload, a flat object of strings with no backslash anywhere in the body, read
-- with string patterns into the very table util.json would return, in a third of the time
-- (5 against 14 µs for a chat message). nil for anything else, which util.json then decodes
-- or refuses as before: other values, nesting, escapes, "{}", keys util.json treats
-- specially (__array, __hash), trailing commas or garbage.
local function decode_flat_json(text)
	if text:find("\\", 1, true) then return nil; end
	local pos = text:match("^[ \t\r\n]*{[ \t\r\n]*()");
	if not pos then return nil; end
	local object = {};
	while true do
		local key, value, after = text:match('^"([^"]*)"[ \t\r\n]*:[ \t\r\n]*"([^"]*)"[ \t\r\n]*()', pos);
		if not key or key == "__array" or key == "__hash" then return nil; end
		object[key] = value;
		local byte = text:byte(after);
		if byte == 0x7d then -- "}"
			if text:find("[^ \t\r\n]", after + 1) then return nil; end
			return object;
		elseif byte ~= 0x2c then -- ","
			return nil;
		end
		pos = text:match("^[ \t\r\n]*()", after + 1);
	end
end

local function decode_json(text)
	local flat = decode_flat_json(text);
	if flat then return flat; end
	local ok, object, err = pcall(json.decode, text);
	if not ok or object == nil then
		return nil, rest_error("parse", "The payload is not valid JSON: " .. tostring(ok and err or "too deeply nested"));
	end
	return object;
end

local function map_json(object, defaults)
	local ok, stanza, err = pcall(jsonmap.to_stanza, object, defaults);
	if not ok then
		module:log("debug", "JSON mapping failed: %s", stanza);
		return nil, rest_error("invalid", "The JSON payload could not be mapped to a stanza");
	elseif not stanza then
		return nil, rest_error("invalid", err);
	end
	return stanza;
end

-- Fills kind, type and to from the path into a decoded object; a body that says otherwise
-- is refused.
local function apply_path(object, path_fields)
	if not jsonmap.is_object(object) then
		return nil, rest_error("invalid", "The payload must be a JSON object");
	end
	for key, value in pairs(path_fields) do
		if object[key] ~= nil and object[key] ~= value then
			return nil, rest_error("invalid", ("'%s' in the payload differs from the path"):format(key));
		end
		object[key] = value;
	end
	return object;
end

local function decode_form(text)
	if not valid_utf8(text) then
		return nil, rest_error("parse", "The form is not UTF-8");
	end
	local ok, fields = pcall(http_util.formdecode, text);
	if not ok then
		return nil, rest_error("parse", "The form could not be decoded");
	end
	return fields;
end

-- text for a message body or a presence status
local function text_stanza(text, path_fields)
	if not valid_utf8(text) or text:find("[%z\1-\8\11\12\14-\31]") then
		return nil, rest_error("invalid", "The text must be UTF-8 without control characters");
	end
	local kind = path_fields.kind or "message";
	local object = { kind = kind, type = path_fields.type, to = path_fields.to };
	if kind == "message" then
		object.type = object.type or "chat";
		object.body = text;
	elseif kind == "presence" then
		object.status = text ~= "" and text or nil;
	else
		return nil, rest_error("invalid", "A text payload is for a message body or a presence status, not an iq");
	end
	return map_json(object);
end

-- POST bodies -> stanza, with fields from the path (kind, type, to) when there are some.
local function parse_body(request, path_fields)
	local body = request.body or "";
	local media, charset = media_type(request.headers.content_type);
	if charset and charset ~= "utf-8" and charset ~= "utf8" then
		return nil, rest_error("mediatype", ("Only UTF-8 is accepted, not %s"):format(charset));
	end
	if not media then
		if path_fields and body == "" then
			return map_json(path_fields);
		end
		return nil, rest_error("mediatype", "A Content-Type header is required: " .. XML_TYPE .. ", "
			.. JSON_TYPE .. ", " .. FORM_TYPE .. " or " .. TEXT_TYPE);
	end
	if XML_ALIASES[media] then
		if path_fields then
			return nil, rest_error("mediatype", "An XML payload takes no parameters in the path; POST it to /rest");
		end
		return parse_xml(body);
	elseif media == JSON_TYPE then
		local object, err = decode_json(body);
		if object == nil then return nil, err; end
		if path_fields then
			object, err = apply_path(object, path_fields);
			if not object then return nil, err; end
		end
		return map_json(object);
	elseif media == FORM_TYPE then
		local fields, err = decode_form(body);
		if not fields then return nil, err; end
		if type(fields) == "string" then -- no '=' anywhere: plain text, as curl -d sends it
			return text_stanza(fields, path_fields or {});
		end
		local object;
		object, err = jsonmap.from_fields(fields);
		if not object then return nil, rest_error("invalid", err); end
		if path_fields then
			object, err = apply_path(object, path_fields);
			if not object then return nil, err; end
		end
		return map_json(object);
	elseif media == TEXT_TYPE then
		return text_stanza(body, path_fields or {});
	end
	return nil, rest_error("mediatype", ("Unsupported media type %s; use %s, %s, %s or %s"):format(
		media, XML_TYPE, JSON_TYPE, FORM_TYPE, TEXT_TYPE));
end

local path_kinds = { message = true, presence = true, iq = true };
local get_queries = { ping = true, version = true, disco = true, items = true };

-- "message/chat/user@example.org" -> { kind = "message", type = "chat", to = "user@..." }
local function parse_post_path(path)
	local kind, stanza_type, to = path:match("^(%a+)/([%w_-]+)/?(.*)$");
	if not kind or not path_kinds[kind] then return nil; end
	return { kind = kind, type = stanza_type, to = to ~= "" and to or nil };
end

-- GET /rest/{query}/{to}?node=... -> an iq get
local function parse_query(request, path)
	local query, to = path:match("^(%a+)/?(.*)$");
	if not query or not get_queries[query] then
		return nil, rest_error("path", ("Unknown query %q; use ping, version, disco or items"):format(path));
	end
	local object = { kind = "iq", type = "get", to = to ~= "" and to or nil, [query] = true };
	local query_string = request.url and request.url.query;
	if query_string and query_string ~= "" then
		local fields, err = decode_form(query_string);
		if not fields then return nil, err; end
		if type(fields) == "string" then fields = { { name = fields, value = "" } }; end
		for _, field in ipairs(fields) do
			if field.name == "node" and (query == "disco" or query == "items") and object[query] == true then
				object[query] = field.value;
			else
				return nil, rest_error("invalid", ("Unsupported query parameter %q"):format(field.name));
			end
		end
	end
	return map_json(object);
end

-- Validation and addressing -----------------------------------------------------------------

local valid_types = {
	message = { normal = true, chat = true, groupchat = true, headline = true, error = true };
	presence = { unavailable = true, subscribe = true, subscribed = true, unsubscribe = true,
		unsubscribed = true, probe = true, error = true };
	iq = { get = true, set = true, result = true, error = true };
};

-- Checks what any stanza must satisfy and fixes up its addressing for `caller`.
local function validate(stanza, caller)
	if stanza.name ~= "message" and stanza.name ~= "presence" and stanza.name ~= "iq" then
		return nil, rest_errors.new("name");
	end
	local attr = stanza.attr;
	if attr.type ~= nil and not valid_types[stanza.name][attr.type] then
		return nil, rest_error("invalid", ("%q is not a type of %s stanza"):format(attr.type, stanza.name));
	end
	if attr.to ~= nil then
		local to = prep_jid(attr.to);
		if not to then return nil, rest_errors.new("to"); end
		attr.to = to;
	elseif is_component or stanza.name == "presence" then
		return nil, rest_error("invalid", ("A %s sent %s needs a 'to'"):format(stanza.name,
			is_component and "by a component" or "over REST"));
	end
	if attr.from ~= nil then
		local from = prep_jid(attr.from);
		if not from then return nil, rest_errors.new("from"); end
		local allowed;
		if caller.component then
			allowed = jid.host(from) == module.host;
		else
			allowed = jid.bare(from) == caller.jid;
		end
		if not allowed then return nil, rest_errors.new("from_auth"); end
		attr.from = from;
	else
		attr.from = caller.jid;
	end
	if attr.id == nil then
		attr.id = id.medium();
	end
	return stanza;
end

local function validate_iq(stanza)
	if stanza.attr.type ~= "get" and stanza.attr.type ~= "set" then
		return nil, rest_errors.new("iq_type");
	elseif #stanza.tags ~= 1 then
		return nil, rest_errors.new("iq_tags");
	end
	return stanza;
end

-- Sending -----------------------------------------------------------------------------------

-- What handlers may look up on a user's session that a REST origin only gets on demand:
-- the roster (mod_roster) and, in Prosody 13, the role (module:may).
local origin_mt = {
	__index = function (origin, key)
		if origin.username == nil then return nil; end
		local value;
		if key == "roster" then
			value = rostermanager.load_roster(origin.username, origin.host);
		elseif key == "role" and usermanager.get_user_role then
			value = usermanager.get_user_role(origin.username, origin.host);
		else
			return nil;
		end
		rawset(origin, key, value);
		return value;
	end;
};

-- A session-like origin for core_post_stanza: what a c2s session (or the component) would
-- be, with `send` capturing the replies Prosody hands back to the sender.
local origins_made = 0;
local function make_origin(caller, send)
	origins_made = origins_made + 1;
	return setmetatable({
		type = caller.component and "component" or "c2s",
		username = caller.username, host = module.host, full_jid = caller.jid,
		id = "rest" .. origins_made, send = send, log = module._log,
		rest = true,
	}, origin_mt);
end

-- iqs waiting for their reply, by the sender's bare JID, the recipient and the id
local waiting = {};
local waiting_count = 0;
local MAX_WAITING = 10000;

local function waiting_key(from, to, iq_id)
	return (jid.bare(from) or "") .. "\0" .. (to or "") .. "\0" .. iq_id;
end

-- Replies routed back to the sender's address (those from other entities).
local function on_routed_reply(event)
	local stanza = event.stanza;
	local stanza_type = stanza.attr.type;
	if (stanza_type ~= "result" and stanza_type ~= "error") or not stanza.attr.id then return; end
	local waiter = waiting[waiting_key(stanza.attr.to, stanza.attr.from, stanza.attr.id)];
	if waiter then
		waiter.finish(stanza);
		return true;
	end
end

-- Sends an iq and calls done(reply) with its reply, or done(nil) after `timeout` seconds.
local function send_iq(caller, stanza, timeout, done)
	local key = waiting_key(stanza.attr.from, stanza.attr.to, stanza.attr.id);
	if waiting[key] then
		return nil, rest_errors.new("conflict");
	elseif waiting_count >= MAX_WAITING then
		return nil, rest_errors.new("busy");
	end
	local waiter = {};
	local timer;
	local function forget()
		if waiting[key] ~= waiter then return false; end
		waiting[key] = nil;
		waiting_count = waiting_count - 1;
		if timer then timer:stop(); end
		return true;
	end
	function waiter.finish(reply)
		if forget() then done(reply); end
	end
	waiting[key] = waiter;
	waiting_count = waiting_count + 1;
	timer = module:add_timer(timeout, function () waiter.finish(nil); end);
	-- Local handlers answer through origin.send.
	local origin = make_origin(caller, function (reply)
		if reply.name == "iq" and reply.attr.id == stanza.attr.id
		and (reply.attr.type == "result" or reply.attr.type == "error") then
			waiter.finish(reply);
		else
			module:log("debug", "Not returned over REST: %s", reply:top_tag());
		end
		return true;
	end);
	local ok, err = xpcall(core_post_stanza, debug.traceback, origin, stanza);
	if not ok then
		forget();
		error(err, 0);
	end
	return waiter;
end

local function request_timeout(request)
	local header = request.headers.prosody_rest_timeout;
	if header == nil then return iq_timeout; end
	local seconds = tonumber(header);
	if not seconds or seconds <= 0 or seconds ~= seconds then
		return nil, rest_error("header", "Prosody-Rest-Timeout must be a positive number of seconds");
	end
	return math.min(seconds, iq_max_timeout);
end

local function handle_iq(request, response, caller, stanza, media)
	local timeout, err = request_timeout(request);
	if not timeout then return send_error(request, response, err); end
	local original = st.clone(stanza, true);
	local waiter;
	waiter, err = send_iq(caller, stanza, timeout, function (reply)
		if reply then
			send_response(response, 200, media, encode_stanza(media, reply));
		else
			local timed_out = st.error_reply(original, "wait", "remote-server-timeout",
				("No reply within %g s"):format(timeout));
			send_response(response, 504, media, encode_stanza(media, timed_out));
		end
	end);
	if not waiter then return send_error(request, response, err); end
	response.on_destroy = function ()
		-- The client went away: stop waiting for it.
		if waiter then waiter.finish(nil); end
	end;
	return true;
end

-- Messages and presences: sent at once; a reply Prosody gives during the send (an error
-- bounce, usually) comes back as the response, otherwise 202.
local function handle_other(response, caller, stanza, media)
	local replies = {};
	local sending = true;
	local origin = make_origin(caller, function (reply)
		if sending then
			table.insert(replies, reply);
		else
			module:log("debug", "Not returned over REST (already answered): %s", reply:top_tag());
		end
		return true;
	end);
	core_post_stanza(origin, stanza, not caller.component);
	sending = false;
	if replies[1] then
		send_response(response, 200, media, encode_stanza(media, replies[1]));
	else
		send_response(response, 202);
	end
	return true;
end

-- HTTP handlers -----------------------------------------------------------------------------

-- Common to every request: authentication, then the response type.
local function begin(request, response)
	local caller, err = authenticate(request);
	if not caller then
		send_error(request, response, err);
		return nil;
	end
	local request_media = media_type(request.headers.content_type);
	local media = choose_type(request.headers.accept, family(request_media));
	if not media then
		send_error(request, response, rest_errors.new("accept"));
		return nil;
	end
	return caller, media;
end

local function dispatch(request, response, caller, stanza, media, echo)
	local err;
	stanza, err = validate(stanza, caller);
	if not stanza then return send_error(request, response, err); end
	if echo then
		send_response(response, 200, media, encode_stanza(media, stanza));
		return true;
	end
	if stanza.name == "iq" then
		stanza, err = validate_iq(stanza);
		if not stanza then return send_error(request, response, err); end
		module:log("debug", "Sending an iq to %s over REST for %s", stanza.attr.to, caller.jid);
		return handle_iq(request, response, caller, stanza, media);
	end
	module:log("debug", "Sending a %s to %s over REST for %s", stanza.name, stanza.attr.to, caller.jid);
	return handle_other(response, caller, stanza, media);
end

local function handle_post(event, path)
	local request, response = event.request, event.response;
	local caller, media = begin(request, response);
	if not caller then return true; end
	if #(request.body or "") > stanza_size_limit then
		return send_error(request, response, rest_error("size",
			("Payload too large: %d bytes, the limit is %d"):format(#request.body, stanza_size_limit)));
	end
	local echo, path_fields = false, nil;
	if path == "echo" then
		echo = true;
	elseif path and path ~= "" then
		path_fields = parse_post_path(path);
		if not path_fields then
			return send_error(request, response, rest_error("path",
				("Unknown path %q; use /rest, /rest/echo or /rest/{kind}/{type}/{to}"):format(path)));
		end
	end
	local stanza, err = parse_body(request, path_fields);
	if not stanza then return send_error(request, response, err); end
	return dispatch(request, response, caller, stanza, media, echo);
end

local function handle_get(event, path)
	local request, response = event.request, event.response;
	local caller, media = begin(request, response);
	if not caller then return true; end
	local stanza, err = parse_query(request, path or "");
	if not stanza then return send_error(request, response, err); end
	return dispatch(request, response, caller, stanza, media, false);
end

local function method_not_allowed(event)
	return send_error(event.request, event.response, rest_errors.new("method"));
end

-- Returns true when the handler has answered (or will answer) the request itself. An error
-- escaping a handler is logged and answered 500, never left to the HTTP server's traceback.
local function guarded(handler)
	return function (event, path)
		local ok, result = xpcall(handler, debug.traceback, event, path);
		if ok then return result; end
		module:log("error", "Error handling REST request: %s", result);
		send_error(event.request, event.response, rest_errors.new("internal"));
		return true;
	end
end

-- Webhook -----------------------------------------------------------------------------------

local callback_url = module:get_option_string("rest_callback_url");
local callback_media = module:get_option_string("rest_callback_content_type", XML_TYPE);
local callback_timeout = read_positive("rest_callback_timeout", 10, "seconds");
local callback_concurrency = math.max(1, math.floor(read_positive("rest_callback_concurrency", 100, "requests")));
local callback_kinds, kinds_ok = read_set("rest_callback_stanzas", { "message", "presence", "iq" },
	allowed_list("message", "presence", "iq"));
local callback_events, events_ok = read_set("rest_callback_events",
	is_component and { "bare", "full", "host" } or { "host" }, allowed_list("bare", "full", "host"));

local webhook_enabled = callback_url ~= nil;
if callback_url ~= nil then
	if not callback_url:match("^https?://[^/]") then
		config_error("rest_callback_url must be an http:// or https:// URL, got %q; stanzas will not be delivered",
			callback_url);
		webhook_enabled = false;
	end
	if callback_media == "json" then callback_media = JSON_TYPE; end
	if callback_media ~= XML_TYPE and callback_media ~= JSON_TYPE then
		config_error("rest_callback_content_type must be %s or %s, got %q; stanzas will not be delivered",
			XML_TYPE, JSON_TYPE, callback_media);
		webhook_enabled = false;
	end
	if not (kinds_ok and events_ok) then
		config_error("stanzas will not be delivered to the webhook until the options above are fixed");
		webhook_enabled = false;
	end
end

local status_conditions = {
	[400] = { "modify", "bad-request" }, [401] = { "auth", "not-authorized" },
	[403] = { "auth", "forbidden" }, [404] = { "cancel", "item-not-found" },
	[405] = { "cancel", "not-allowed" }, [406] = { "modify", "not-acceptable" },
	[409] = { "cancel", "conflict" }, [501] = { "cancel", "feature-not-implemented" },
	[503] = { "cancel", "service-unavailable" }, [504] = { "wait", "remote-server-timeout" },
};

-- Whether a stanza may be answered at all (never an error or a result).
local function answerable(stanza)
	local stanza_type = stanza.attr.type;
	return stanza_type ~= "error" and stanza_type ~= "result";
end

local function clean_text(text)
	if type(text) ~= "string" or not text:find("%S") then return nil; end
	if #text > MAX_ERROR_TEXT then
		text = text:sub(1, MAX_ERROR_TEXT);
		while #text > 0 and not valid_utf8(text) do text = text:sub(1, -2); end
	end
	if not valid_utf8(text) or text:find("[%z\1-\8\11\12\14-\31]") then return nil; end
	return (text:gsub("^%s+", ""):gsub("%s+$", ""));
end

local function error_reply(stanza, error_type, condition, text)
	local reply = st.error_reply(stanza, error_type, condition, text);
	reply.attr.from = stanza.attr.to; -- error_reply keeps these; set them anyway for clarity
	reply.attr.to = stanza.attr.from;
	return reply;
end

-- The webhook's answer as a stanza: parsed from XML or JSON, or nil and why not.
local function parse_answer(stanza, body, answer_media)
	if #body > stanza_size_limit then
		return nil, ("the answer is larger than %d bytes"):format(stanza_size_limit);
	end
	local reply, err;
	if XML_ALIASES[answer_media] then
		reply, err = parse_xml(body);
	else
		local object;
		object, err = decode_json(body);
		if object ~= nil then reply, err = map_json(object, { kind = stanza.name }); end
	end
	if not reply then return nil, err and err.text or "unusable answer"; end
	if reply.name ~= stanza.name then
		return nil, ("the answer is a %s, not a %s"):format(reply.name, stanza.name);
	end
	local reply_type = reply.attr.type;
	if reply_type ~= nil and not valid_types[reply.name][reply_type] then
		return nil, ("%q is not a type of %s stanza"):format(reply_type, reply.name);
	end
	return reply;
end

-- Turns the webhook's reply into one addressed back to the sender.
local function address_reply(stanza, reply)
	local attr = reply.attr;
	attr.from, attr.to, attr.xmlns = stanza.attr.to, stanza.attr.from, nil;
	if reply.name == "iq" then
		attr.id = stanza.attr.id;
		if attr.type ~= "error" then attr.type = "result"; end
	elseif attr.type == "error" then
		attr.id = stanza.attr.id;
	elseif attr.id == nil then
		attr.id = id.medium();
	end
	if reply.name == "message" and attr.type == nil then
		attr.type = stanza.attr.type; -- a reply to a chat message is a chat message
	end
	if reply.name == "message" and attr.type == "groupchat" then
		attr.to = jid.bare(stanza.attr.from);
	end
	return reply;
end

-- What to send back for the webhook's HTTP answer (nil: nothing).
local function answer_to_reply(stanza, body, code, headers)
	local needs_reply = stanza.name == "iq" and answerable(stanza);
	local answer_media = media_type(headers and headers["content-type"]);
	local has_stanza = body ~= "" and (XML_ALIASES[answer_media] or answer_media == JSON_TYPE);
	if code >= 200 and code < 300 then
		if code == 202 or code == 204 or not has_stanza then
			return needs_reply and st.reply(stanza) or nil;
		end
		local reply, err = parse_answer(stanza, body, answer_media);
		if not reply then
			module:log("warn", "Webhook answered %d with an unusable reply to a %s from %s: %s",
				code, stanza.name, stanza.attr.from, err);
			return needs_reply and error_reply(stanza, "cancel", "internal-server-error") or nil;
		end
		return answerable(stanza) and address_reply(stanza, reply) or nil;
	end
	if not answerable(stanza) then return nil; end
	if has_stanza and code >= 400 then
		-- A stanza error written by the webhook itself is used as it is.
		local reply = parse_answer(stanza, body, answer_media);
		if reply and reply.attr.type == "error" then
			return address_reply(stanza, reply);
		end
	end
	local condition = status_conditions[code] or { "cancel", "internal-server-error" };
	-- A plain text body explains the refusal: it becomes the error's text (never a body).
	local text = (answer_media == TEXT_TYPE or answer_media == nil) and clean_text(body) or nil;
	module:log("debug", "Webhook answered %d to a %s from %s", code, stanza.name, stanza.attr.from);
	return error_reply(stanza, condition[1], condition[2], text);
end

local callback_headers = {
	["Content-Type"] = callback_media;
	["Accept"] = XML_TYPE .. ", " .. JSON_TYPE;
};

-- At most callback_concurrency requests to the webhook at once; the stanzas after those wait
-- in order. Each stanza's timeout runs from its arrival, so the wait is bounded too.
local in_flight, waiting_first, waiting_last, waiting_jobs = 0, 1, 0, {};

local function start_waiting_jobs()
	while in_flight < callback_concurrency and waiting_first <= waiting_last do
		local job = waiting_jobs[waiting_first];
		waiting_jobs[waiting_first] = nil;
		waiting_first = waiting_first + 1;
		if not job.finished then
			in_flight = in_flight + 1;
			job.started = true;
			job.start();
		end
	end
end

local function webhook_body(stanza)
	if callback_media == JSON_TYPE then
		return json.encode(jsonmap.to_object(stanza));
	end
	return tostring(stanza);
end

local function webhook_headers(stanza)
	local lang = stanza.attr["xml:lang"];
	if not lang then return callback_headers; end
	local headers = { ["Content-Language"] = lang };
	for name, value in pairs(callback_headers) do headers[name] = value; end
	return headers;
end

-- What the webhook's HTTP answer (or its absence) calls for; nil when nothing.
local function reply_for_answer(original, answer_body, code, answer)
	if code == 0 then
		module:log("warn", "Webhook unreachable (%s), a %s from %s was not delivered",
			tostring(answer_body), original.name, original.attr.from);
		return answerable(original) and error_reply(original, "wait", "recipient-unavailable") or nil;
	end
	local ok, reply = pcall(answer_to_reply, original, answer_body or "", code, answer and answer.headers);
	if not ok then
		module:log("error", "Could not handle the webhook's answer: %s", reply);
		return answerable(original) and error_reply(original, "cancel", "internal-server-error") or nil;
	end
	return reply;
end

-- Delivers one stanza to the webhook (now, or when a request slot frees up) and sends back
-- what its answer calls for.
local function deliver(event)
	local stanza = event.stanza;
	local body, headers = webhook_body(stanza), webhook_headers(stanza);
	local original = st.clone(stanza, true); -- the top tag is enough to answer it
	local job = { finished = false, started = false };
	local request, timer;
	local function finish(reply)
		if job.finished then return; end
		job.finished = true;
		timer:stop();
		if reply then module:send(reply); end
		if job.started then
			in_flight = in_flight - 1;
			start_waiting_jobs();
		end
	end
	timer = module:add_timer(callback_timeout, function ()
		module:log("warn", "Webhook did not answer within %g s (a %s from %s)", callback_timeout,
			original.name, original.attr.from);
		finish(answerable(original) and error_reply(original, "wait", "remote-server-timeout") or nil);
		if request and request.cancel then request:cancel("timeout"); end
	end);
	function job.start()
		request = http.request(callback_url, { method = "POST", body = body, headers = headers },
			function (answer_body, code, answer)
				if not job.finished then
					finish(reply_for_answer(original, answer_body, code, answer));
				end
			end);
	end
	waiting_last = waiting_last + 1;
	waiting_jobs[waiting_last] = job;
	start_waiting_jobs();
	return true;
end

-- Hooks -------------------------------------------------------------------------------------

module:depends("http");
module:provides("http", {
	route = {
		["POST"] = guarded(handle_post);
		["POST /*"] = guarded(handle_post);
		["GET /*"] = guarded(handle_get);
		["GET"] = method_not_allowed;
		["HEAD"] = method_not_allowed; ["HEAD /*"] = method_not_allowed;
		["PUT"] = method_not_allowed; ["PUT /*"] = method_not_allowed;
		["DELETE"] = method_not_allowed; ["DELETE /*"] = method_not_allowed;
		["PATCH"] = method_not_allowed; ["PATCH /*"] = method_not_allowed;
	};
});

-- Replies to iqs sent over REST, before anything else sees them.
for _, event_name in ipairs({ "iq/bare", "iq/full", "iq/host" }) do
	module:hook(event_name, on_routed_reply, 1000);
end

if webhook_enabled then
	-- After Prosody's own handlers: only what nothing else handled goes to the webhook.
	for kind in callback_kinds do
		for event_name in callback_events do
			module:hook(kind .. "/" .. event_name, deliver, -1);
		end
	end
	module:log("debug", "Delivering %s addressed to %s JIDs to %s as %s", tostring(callback_kinds),
		tostring(callback_events), callback_url, callback_media);
end
