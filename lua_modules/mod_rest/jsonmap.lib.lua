-- jsonmap: mod_rest's JSON mapping of stanzas, both ways.
--
--   to_stanza(object, defaults)  JSON object (decoded) -> util.stanza, or nil, reason
--   to_object(stanza)            util.stanza -> JSON-ready table (never fails)
--   from_fields(fields)          flat string map (form or query string) -> object, or nil, reason
--
-- A pure library: it needs only Prosody's util.* libraries, so tests can load it outside a
-- module. Every reason returned is a sentence for the HTTP client (a 422 body). The mapping
-- is documented field by field in README.markdown; for payloads it does not cover, use XML.

local array = require "util.array";
local jid_prep = require "util.jid".prep;
local json = require "util.json";
local st = require "util.stanza";
local valid_utf8 = require "util.encodings".utf8.valid;
local xml_parse = require "util.xml".parse;

local NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
local NS_XHTML_IM = "http://jabber.org/protocol/xhtml-im";
local NS_XHTML = "http://www.w3.org/1999/xhtml";
local NS_OOB = "jabber:x:oob";
local NS_CHATSTATES = "http://jabber.org/protocol/chatstates";
local NS_MUC = "http://jabber.org/protocol/muc";
local NS_PING = "urn:xmpp:ping";
local NS_VERSION = "jabber:iq:version";
local NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
local NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";
local NS_COMMANDS = "http://jabber.org/protocol/commands";
local NS_DATA = "jabber:x:data";

local array_mt = getmetatable(array());

-- Children of an element whose effective namespace is `element_ns`, by name and namespace
-- (default: the element's own). Prosody's parsers write xmlns on every element outside
-- jabber:client, while stanzas built in code leave it off children that share their
-- parent's namespace; both count here (util.stanza's childtags sees only the first kind).
local function each_child(element, element_ns, name, xmlns)
	xmlns = xmlns or element_ns;
	local tags, i = element.tags, 0;
	return function ()
		while true do
			i = i + 1;
			local child = tags[i];
			if not child then return nil; end
			if (not name or child.name == name) and (child.attr.xmlns or element_ns) == xmlns then
				return child;
			end
		end
	end
end

local function first_child(element, element_ns, name, xmlns)
	return each_child(element, element_ns, name, xmlns)();
end

local function child_text(element, element_ns, name, xmlns)
	local child = first_child(element, element_ns, name, xmlns);
	return child and child:get_text();
end

-- Gives every element without an xmlns its parent's namespace, below the stanza's own
-- (jabber:client) children: the shape Prosody's stream parser gives received stanzas, which
-- other modules' get_child/childtags calls expect.
local function inherit_namespaces(element, element_ns)
	for _, child in ipairs(element.tags) do
		if child.attr.xmlns == nil and element_ns ~= nil then
			child.attr.xmlns = element_ns;
		end
		inherit_namespaces(child, child.attr.xmlns);
	end
end

local function set_of(list)
	local set = {};
	for _, item in ipairs(list) do set[item] = true; end
	return set;
end

local stanza_types = {
	message = set_of { "normal", "chat", "groupchat", "headline", "error" };
	presence = set_of { "available", "unavailable", "subscribe", "subscribed", "unsubscribe",
		"unsubscribed", "probe", "error" };
	iq = set_of { "get", "set", "result", "error" };
};

-- Which kind a field belongs to; the common fields (kind, type, to, from, id, lang, error)
-- belong to all three.
local field_kind = {
	body = "message", subject = "message", html = "message", oob_url = "message", state = "message";
	show = "presence", status = "presence", join = "presence", priority = "presence";
	ping = "iq", version = "iq", disco = "iq", items = "iq", command = "iq";
};
local common_fields = set_of { "kind", "type", "to", "from", "id", "lang", "error" };

-- The order in which fields imply a kind when `kind` and `type` do not say.
local implying_fields = { "body", "subject", "html", "oob_url", "state", "show", "status", "join",
	"priority", "ping", "version", "disco", "items", "command" };

local kind_of_type = {
	normal = "message", chat = "message", groupchat = "message", headline = "message";
	available = "presence", unavailable = "presence", subscribe = "presence", subscribed = "presence",
	unsubscribe = "presence", unsubscribed = "presence", probe = "presence";
	get = "iq", set = "iq", result = "iq";
};

local chat_states = set_of { "active", "inactive", "gone", "composing", "paused" };
local show_values = set_of { "away", "chat", "dnd", "xa" };
local error_types = set_of { "auth", "cancel", "continue", "modify", "wait" };
local error_conditions = set_of { "bad-request", "conflict", "feature-not-implemented", "forbidden",
	"gone", "internal-server-error", "item-not-found", "jid-malformed", "not-acceptable", "not-allowed",
	"not-authorized", "policy-violation", "recipient-unavailable", "redirect", "registration-required",
	"remote-server-not-found", "remote-server-timeout", "resource-constraint", "service-unavailable",
	"subscription-required", "undefined-condition", "unexpected-request" };
local command_actions = set_of { "execute", "cancel", "prev", "next", "complete" };
local command_statuses = set_of { "executing", "completed", "canceled" };
local note_types = set_of { "info", "warn", "error" };
local field_types = set_of { "boolean", "fixed", "hidden", "jid-multi", "jid-single", "list-multi",
	"list-single", "text-multi", "text-private", "text-single" };
local multi_value_types = set_of { "jid-multi", "list-multi", "text-multi" };

-- Validation helpers ---------------------------------------------------------------------
-- Each returns the value (possibly normalised) or nil and a reason naming the field.

-- util.json gives decoded arrays util.array's metatable; a table built in Lua counts as an
-- array when it is a non-empty sequence.
local function is_array(value)
	if type(value) ~= "table" then return false; end
	if getmetatable(value) == array_mt then return true; end
	if getmetatable(value) ~= nil or value[1] == nil then return false; end
	local count = 0;
	for key in pairs(value) do
		if math.type(key) ~= "integer" then return false; end
		count = count + 1;
	end
	return count == #value;
end

local function is_object(value)
	return type(value) == "table" and value ~= json.null and not is_array(value)
		and (getmetatable(value) == nil);
end

-- Text that XML can carry: valid UTF-8 without the control characters XML 1.0 forbids.
local function valid_text(value)
	return valid_utf8(value) and not value:find("[%z\1-\8\11\12\14-\31]");
end

local function check_string(value, name)
	if type(value) ~= "string" then
		return nil, ("'%s' must be a string"):format(name);
	elseif not valid_text(value) then
		return nil, ("'%s' contains invalid UTF-8 or control characters"):format(name);
	end
	return value;
end

-- util.jid.prep leaves domains like "local host" or "a..b" alone; a domain here is an IP
-- literal or dot-separated labels of letters, digits, '-', '_' and non-ASCII characters.
local function valid_domain(domain)
	if domain:match("^%[[%x:.]+%]$") then return true; end
	if #domain > 1023 or domain:find("[^%w%-_.\128-\255]") then return false; end
	for label in (domain .. "."):gmatch("([^.]*)%.") do
		if label == "" or #label > 63 then return false; end
	end
	return true;
end

-- jid_prep, with the domain checked too. The same few addresses come again and again, so
-- the answers are remembered (up to 1,000, then the memory starts afresh).
local prepped_jids, prepped_count = {}, 0;

local function prep_jid(text)
	local known = prepped_jids[text];
	if known ~= nil then return known or nil; end
	local prepped = jid_prep(text);
	if prepped then
		local domain = prepped:match("^[^@/]*@([^/]*)") or prepped:match("^([^/]*)");
		if not valid_domain(domain) then prepped = nil; end
	end
	if prepped_count >= 1000 then prepped_jids, prepped_count = {}, 0; end
	prepped_jids[text], prepped_count = prepped or false, prepped_count + 1;
	return prepped;
end

local function check_jid(value, name)
	local text, err = check_string(value, name);
	if not text then return nil, err; end
	local prepped = prep_jid(text);
	if not prepped then
		return nil, ("'%s' is not a valid JID: %q"):format(name, text);
	end
	return prepped;
end

local function check_enum(value, allowed, name)
	local text, err = check_string(value, name);
	if not text then return nil, err; end
	if not allowed[text] then
		return nil, ("'%s' has an unsupported value %q"):format(name, text);
	end
	return text;
end

local function check_keys(object, allowed, name)
	for key in pairs(object) do
		if type(key) ~= "string" or not allowed[key] then
			return nil, ("'%s' has an unsupported member %s"):format(name, type(key) == "string"
				and ("%q"):format(key) or tostring(key));
		end
	end
	return true;
end

local function check_object(value, name, allowed)
	if not is_object(value) then
		return nil, ("'%s' must be an object"):format(name);
	end
	if allowed then
		local ok, err = check_keys(value, allowed, name);
		if not ok then return nil, err; end
	end
	return value;
end

local function check_array(value, name)
	if not is_array(value) then
		return nil, ("'%s' must be an array"):format(name);
	end
	return value;
end

local function check_string_array(value, name)
	local list, err = check_array(value, name);
	if not list then return nil, err; end
	for i, item in ipairs(list) do
		local ok, item_err = check_string(item, ("%s[%d]"):format(name, i));
		if not ok then return nil, item_err; end
	end
	return list;
end

-- Data forms (XEP-0004) -------------------------------------------------------------------

-- The short form: { var = "value" | { "values" } | true/false }. Arrays become list-multi
-- fields and booleans boolean fields, so the JSON comes back with the same shapes.
local function data_to_form(data, form_type, name, form_type_value)
	local ok, err = check_object(data, name);
	if not ok then return nil, err; end
	local form = st.stanza("x", { xmlns = NS_DATA, type = form_type });
	if form_type_value then
		form:tag("field", { var = "FORM_TYPE", type = "hidden" }):text_tag("value", form_type_value):up();
	end
	for var, value in pairs(data) do
		local where = ("%s.%s"):format(name, tostring(var));
		if type(var) ~= "string" or not valid_text(var) or var == "" then
			return nil, ("'%s' has an invalid field name"):format(name);
		elseif form_type_value and var == "FORM_TYPE" then
			return nil, ("'%s' must not repeat FORM_TYPE (it is the key)"):format(name);
		end
		if type(value) == "boolean" then
			form:tag("field", { var = var, type = "boolean" }):text_tag("value", value and "1" or "0"):up();
		elseif type(value) == "string" then
			local text, text_err = check_string(value, where);
			if not text then return nil, text_err; end
			form:tag("field", { var = var }):text_tag("value", text):up();
		elseif check_string_array(value, where) then
			form:tag("field", { var = var, type = "list-multi" });
			for _, item in ipairs(value) do form:text_tag("value", item); end
			form:up();
		else
			return nil, ("'%s' must be a string, an array of strings or a boolean"):format(where);
		end
	end
	return form;
end

local function field_values(field)
	local values = array();
	for value in each_child(field, NS_DATA, "value") do
		values:push(value:get_text());
	end
	return values;
end

local function form_to_data(form)
	local data = {};
	for field in each_child(form, NS_DATA, "field") do
		local var = field.attr.var;
		if var then
			local values, field_type = field_values(field), field.attr.type;
			if field_type == "boolean" then
				data[var] = values[1] == "1" or values[1] == "true";
			elseif multi_value_types[field_type] or (field_type == nil and #values > 1) then
				data[var] = values;
			else
				data[var] = values[1] or "";
			end
		end
	end
	return data;
end

local form_keys = set_of { "type", "title", "instructions", "fields" };
local form_field_keys = set_of { "var", "type", "label", "desc", "required", "value", "options" };
local option_keys = set_of { "label", "value" };

local function add_form_field(form, field, where)
	local ok, err = check_object(field, where, form_field_keys);
	if not ok then return nil, err; end
	local attr = {};
	for _, key in ipairs({ "var", "label" }) do
		if field[key] ~= nil then
			attr[key], err = check_string(field[key], where .. "." .. key);
			if not attr[key] then return nil, err; end
		end
	end
	if field.type ~= nil then
		attr.type, err = check_enum(field.type, field_types, where .. ".type");
		if not attr.type then return nil, err; end
	end
	form:tag("field", attr);
	if field.desc ~= nil then
		local desc, desc_err = check_string(field.desc, where .. ".desc");
		if not desc then return nil, desc_err; end
		form:text_tag("desc", desc);
	end
	if field.required == true then
		form:tag("required"):up();
	elseif field.required ~= nil and field.required ~= false then
		return nil, ("'%s.required' must be a boolean"):format(where);
	end
	local value = field.value;
	if multi_value_types[attr.type] then
		if value ~= nil then
			local values, values_err = check_string_array(value, where .. ".value");
			if not values then return nil, values_err; end
			for _, item in ipairs(values) do form:text_tag("value", item); end
		end
	elseif value ~= nil then
		local text, text_err = check_string(value, where .. ".value");
		if not text then
			return nil, text_err .. " (only *-multi fields take an array)";
		end
		form:text_tag("value", text);
	end
	if field.options ~= nil then
		local options, options_err = check_array(field.options, where .. ".options");
		if not options then return nil, options_err; end
		for i, option in ipairs(options) do
			local option_where = ("%s.options[%d]"):format(where, i);
			local valid, option_err = check_object(option, option_where, option_keys);
			if not valid then return nil, option_err; end
			local label, option_value;
			if option.label ~= nil then
				label, option_err = check_string(option.label, option_where .. ".label");
				if not label then return nil, option_err; end
			end
			option_value, option_err = check_string(option.value, option_where .. ".value");
			if not option_value then return nil, option_err; end
			form:tag("option", { label = label }):text_tag("value", option_value):up();
		end
	end
	form:up();
	return true;
end

-- The full form: { type, title, instructions, fields = { { var, type, label, desc, required,
-- value, options } } }; `value` is an array for *-multi fields, else a string.
local function json_to_dataform(object, name)
	local ok, err = check_object(object, name, form_keys);
	if not ok then return nil, err; end
	-- Submitted and result forms travel as `data`; `form` is a form to fill in.
	if object.type ~= nil and object.type ~= "form" then
		return nil, ("'%s.type' must be \"form\" (submitted or result forms go in 'data')"):format(name);
	end
	local form_type = "form";
	local form = st.stanza("x", { xmlns = NS_DATA, type = form_type });
	for _, key in ipairs({ "title", "instructions" }) do
		if object[key] ~= nil then
			local text, text_err = check_string(object[key], name .. "." .. key);
			if not text then return nil, text_err; end
			form:text_tag(key, text);
		end
	end
	if object.fields ~= nil then
		local fields, fields_err = check_array(object.fields, name .. ".fields");
		if not fields then return nil, fields_err; end
		for i, field in ipairs(fields) do
			local added, field_err = add_form_field(form, field, ("%s.fields[%d]"):format(name, i));
			if not added then return nil, field_err; end
		end
	end
	return form;
end

local function dataform_to_json(form)
	local fields = array();
	for field in each_child(form, NS_DATA, "field") do
		local field_type = field.attr.type;
		local values = field_values(field);
		local item = {
			var = field.attr.var, type = field_type, label = field.attr.label,
			desc = child_text(field, NS_DATA, "desc"),
			required = first_child(field, NS_DATA, "required") and true or nil,
		};
		if multi_value_types[field_type] then
			item.value = values;
		else
			item.value = values[1];
		end
		if first_child(field, NS_DATA, "option") then
			item.options = array();
			for option in each_child(field, NS_DATA, "option") do
				item.options:push({ label = option.attr.label, value = child_text(option, NS_DATA, "value") or "" });
			end
		end
		fields:push(item);
	end
	return {
		type = form.attr.type, title = child_text(form, NS_DATA, "title"),
		instructions = child_text(form, NS_DATA, "instructions"), fields = fields,
	};
end

-- Payload fields, JSON -> XML ---------------------------------------------------------------
-- Each encoder gets (stanza being built, value, the whole object) and adds its child, or
-- returns nil and a reason.

local function add_text_child(name)
	return function (stanza, value)
		local text, err = check_string(value, name);
		if not text then return nil, err; end
		stanza:text_tag(name, text);
		return true;
	end
end

-- `html` is one XHTML <body> element, written without its namespace.
local function add_html(stanza, value)
	local text, err = check_string(value, "html");
	if not text then return nil, err; end
	-- Parsed inside a wrapper whose default namespace is XHTML's, as the body is written.
	local ok, wrapper = pcall(xml_parse,
		"<x:html xmlns:x='" .. NS_XHTML_IM .. "' xmlns='" .. NS_XHTML .. "'>" .. text .. "</x:html>");
	if not ok or not wrapper then
		return nil, "'html' is not well-formed XML";
	end
	local body = wrapper.tags[1];
	local stray = false;
	for _, node in ipairs(wrapper) do
		if type(node) == "string" and node:find("%S") then stray = true; end
	end
	if not body or #wrapper.tags ~= 1 or body.name ~= "body" or body.attr.xmlns ~= NS_XHTML or stray then
		return nil, "'html' must be exactly one <body> element";
	end
	stanza:tag("html", { xmlns = NS_XHTML_IM }):add_child(body):up();
	return true;
end

local function add_oob_url(stanza, value)
	local text, err = check_string(value, "oob_url");
	if not text then return nil, err; end
	stanza:tag("x", { xmlns = NS_OOB }):text_tag("url", text):up();
	return true;
end

local function add_state(stanza, value)
	local state, err = check_enum(value, chat_states, "state");
	if not state then return nil, err; end
	stanza:tag(state, { xmlns = NS_CHATSTATES }):up();
	return true;
end

local function add_show(stanza, value)
	local show, err = check_enum(value, show_values, "show");
	if not show then return nil, err; end
	stanza:text_tag("show", show);
	return true;
end

local function add_join(stanza, value)
	if type(value) ~= "boolean" then
		return nil, "'join' must be a boolean";
	end
	if value then
		stanza:tag("x", { xmlns = NS_MUC }):up();
	end
	return true;
end

local function add_priority(stanza, value)
	if math.type(value) ~= "integer" and not (type(value) == "number" and value == math.floor(value)) then
		return nil, "'priority' must be an integer";
	elseif value < -128 or value > 127 then
		return nil, "'priority' must be between -128 and 127";
	end
	stanza:text_tag("priority", ("%d"):format(value));
	return true;
end

local function add_ping(stanza, value)
	if value ~= true then
		return nil, "'ping' must be true";
	end
	stanza:tag("ping", { xmlns = NS_PING }):up();
	return true;
end

local version_keys = set_of { "name", "version", "os" };

local function add_version(stanza, value)
	stanza:tag("query", { xmlns = NS_VERSION });
	if value ~= true then
		local ok, err = check_object(value, "version", version_keys);
		if not ok then return nil, err; end
		for _, key in ipairs({ "name", "version", "os" }) do
			if value[key] ~= nil then
				local text, text_err = check_string(value[key], "version." .. key);
				if not text then return nil, text_err; end
				stanza:text_tag(key, text);
			end
		end
	end
	stanza:up();
	return true;
end

local disco_keys = set_of { "node", "identities", "features", "extensions" };
local identity_keys = set_of { "category", "type", "name" };

local function add_disco(stanza, value)
	if value == true then
		stanza:tag("query", { xmlns = NS_DISCO_INFO }):up();
		return true;
	elseif type(value) == "string" then
		local node, err = check_string(value, "disco");
		if not node then return nil, err; end
		stanza:tag("query", { xmlns = NS_DISCO_INFO, node = node }):up();
		return true;
	end
	local ok, err = check_object(value, "disco", disco_keys);
	if not ok then return nil, err .. " (or true, or a node name)"; end
	local node;
	if value.node ~= nil then
		node, err = check_string(value.node, "disco.node");
		if not node then return nil, err; end
	end
	local query = st.stanza("query", { xmlns = NS_DISCO_INFO, node = node });
	if value.identities ~= nil then
		local identities, list_err = check_array(value.identities, "disco.identities");
		if not identities then return nil, list_err; end
		for i, identity in ipairs(identities) do
			local where = ("disco.identities[%d]"):format(i);
			local valid, identity_err = check_object(identity, where, identity_keys);
			if not valid then return nil, identity_err; end
			local attr = {};
			for _, key in ipairs({ "category", "type", "name" }) do
				if identity[key] ~= nil or key ~= "name" then
					attr[key], identity_err = check_string(identity[key], where .. "." .. key);
					if not attr[key] then return nil, identity_err; end
				end
			end
			query:tag("identity", attr):up();
		end
	end
	if value.features ~= nil then
		local features, list_err = check_string_array(value.features, "disco.features");
		if not features then return nil, list_err; end
		for _, feature in ipairs(features) do
			query:tag("feature", { var = feature }):up();
		end
	end
	if value.extensions ~= nil then
		local extensions, ext_err = check_object(value.extensions, "disco.extensions");
		if not extensions then return nil, ext_err; end
		for form_type, data in pairs(extensions) do
			if type(form_type) ~= "string" or not valid_text(form_type) then
				return nil, "'disco.extensions' keys must be FORM_TYPE strings";
			end
			local form, form_err = data_to_form(data, "result", "disco.extensions." .. form_type, form_type);
			if not form then return nil, form_err; end
			query:add_direct_child(form);
		end
	end
	stanza:add_direct_child(query);
	return true;
end

local item_keys = set_of { "jid", "name", "node" };

local function add_items(stanza, value)
	if value == true then
		stanza:tag("query", { xmlns = NS_DISCO_ITEMS }):up();
		return true;
	elseif type(value) == "string" then
		local node, err = check_string(value, "items");
		if not node then return nil, err; end
		stanza:tag("query", { xmlns = NS_DISCO_ITEMS, node = node }):up();
		return true;
	elseif is_object(value) then
		local ok, err = check_keys(value, { node = true }, "items");
		if not ok then return nil, err; end
		local node;
		if value.node ~= nil then
			node, err = check_string(value.node, "items.node");
			if not node then return nil, err; end
		end
		stanza:tag("query", { xmlns = NS_DISCO_ITEMS, node = node }):up();
		return true;
	end
	local list, err = check_array(value, "items");
	if not list then return nil, err .. " (or true, a node name or {\"node\": ...})"; end
	stanza:tag("query", { xmlns = NS_DISCO_ITEMS });
	for i, item in ipairs(list) do
		local where = ("items[%d]"):format(i);
		local valid, item_err = check_object(item, where, item_keys);
		if not valid then return nil, item_err; end
		local attr = {};
		attr.jid, item_err = check_jid(item.jid, where .. ".jid");
		if not attr.jid then return nil, item_err; end
		for _, key in ipairs({ "name", "node" }) do
			if item[key] ~= nil then
				attr[key], item_err = check_string(item[key], where .. "." .. key);
				if not attr[key] then return nil, item_err; end
			end
		end
		stanza:tag("item", attr):up();
	end
	stanza:up();
	return true;
end

local command_keys = set_of { "node", "action", "actions", "status", "sessionid", "note", "form", "data" };
local actions_keys = set_of { "execute", "next", "prev", "complete" };
local note_keys = set_of { "type", "text" };

local function add_command(stanza, value, object)
	if type(value) == "string" then
		value = { node = value };
	end
	local ok, err = check_object(value, "command", command_keys);
	if not ok then return nil, err .. " (or a node name)"; end
	local attr = {};
	attr.node, err = check_string(value.node, "command.node");
	if not attr.node then return nil, err; end
	if value.sessionid ~= nil then
		attr.sessionid, err = check_string(value.sessionid, "command.sessionid");
		if not attr.sessionid then return nil, err; end
	end
	if value.action ~= nil then
		attr.action, err = check_enum(value.action, command_actions, "command.action");
		if not attr.action then return nil, err; end
	end
	if value.status ~= nil then
		attr.status, err = check_enum(value.status, command_statuses, "command.status");
		if not attr.status then return nil, err; end
	end
	local command = st.stanza("command", { xmlns = NS_COMMANDS, node = attr.node,
		sessionid = attr.sessionid, action = attr.action, status = attr.status });
	if value.actions ~= nil then
		local actions, actions_err = check_object(value.actions, "command.actions", actions_keys);
		if not actions then return nil, actions_err; end
		local execute;
		if actions.execute ~= nil then
			execute, actions_err = check_enum(actions.execute, command_actions, "command.actions.execute");
			if not execute then return nil, actions_err; end
		end
		command:tag("actions", { execute = execute });
		for _, name in ipairs({ "prev", "next", "complete" }) do
			if actions[name] == true then
				command:tag(name):up();
			elseif actions[name] ~= nil then
				return nil, ("'command.actions.%s' must be true"):format(name);
			end
		end
		command:up();
	end
	if value.note ~= nil then
		local note, note_err = check_object(value.note, "command.note", note_keys);
		if not note then return nil, note_err; end
		local note_type, text;
		if note.type ~= nil then
			note_type, note_err = check_enum(note.type, note_types, "command.note.type");
			if not note_type then return nil, note_err; end
		end
		text, note_err = check_string(note.text, "command.note.text");
		if not text then return nil, note_err; end
		command:text_tag("note", text, { type = note_type });
	end
	if value.form ~= nil and value.data ~= nil then
		return nil, "'command' takes either 'form' or 'data', not both";
	elseif value.form ~= nil then
		local form, form_err = json_to_dataform(value.form, "command.form");
		if not form then return nil, form_err; end
		command:add_direct_child(form);
	elseif value.data ~= nil then
		local form_type = object.type == "set" and "submit" or "result";
		local form, form_err = data_to_form(value.data, form_type, "command.data");
		if not form then return nil, form_err; end
		command:add_direct_child(form);
	end
	stanza:add_direct_child(command);
	return true;
end

local error_keys = set_of { "type", "condition", "text", "by" };

local function add_error(stanza, value)
	local ok, err = check_object(value, "error", error_keys);
	if not ok then return nil, err; end
	local error_type, condition, text, by;
	error_type, err = check_enum(value.type or "cancel", error_types, "error.type");
	if not error_type then return nil, err; end
	condition, err = check_enum(value.condition or "undefined-condition", error_conditions, "error.condition");
	if not condition then return nil, err; end
	if value.text ~= nil then
		text, err = check_string(value.text, "error.text");
		if not text then return nil, err; end
	end
	if value.by ~= nil then
		by, err = check_jid(value.by, "error.by");
		if not by then return nil, err; end
	end
	stanza:tag("error", { type = error_type, by = by }):tag(condition, { xmlns = NS_STANZAS }):up();
	if text then
		stanza:text_tag("text", text, { xmlns = NS_STANZAS });
	end
	stanza:up();
	return true;
end

-- In the order children are written.
local encoders = {
	{ "subject", add_text_child("subject") }, { "body", add_text_child("body") },
	{ "html", add_html }, { "oob_url", add_oob_url }, { "state", add_state },
	{ "show", add_show }, { "status", add_text_child("status") }, { "priority", add_priority },
	{ "join", add_join },
	{ "ping", add_ping }, { "version", add_version }, { "disco", add_disco }, { "items", add_items },
	{ "command", add_command },
	{ "error", add_error },
};

-- JSON -> stanza ----------------------------------------------------------------------------

-- The kind the object asks for: `kind`, else what `type` implies, else the first payload field
-- that implies one, else the caller's default.
local function decide_kind(object, default_kind)
	if object.kind ~= nil then
		return check_enum(object.kind, stanza_types, "kind");
	end
	local kind = type(object.type) == "string" and kind_of_type[object.type];
	if kind then return kind; end
	for _, field in ipairs(implying_fields) do
		if object[field] ~= nil then
			return field_kind[field];
		end
	end
	return default_kind or "message";
end

local function decide_type(object, kind)
	local stanza_type = object.type;
	if stanza_type == nil then
		if object.error ~= nil then
			return "error";
		elseif kind == "iq" then
			return object.command ~= nil and "set" or "get";
		end
		return nil;
	end
	local checked, err = check_string(stanza_type, "type");
	if not checked then return nil, err; end
	if not stanza_types[kind][stanza_type] then
		return nil, ("'type' %q is not a type of %s stanza"):format(stanza_type, kind);
	end
	if object.error ~= nil and stanza_type ~= "error" then
		return nil, "'error' needs 'type' \"error\"";
	end
	if kind == "presence" and stanza_type == "available" then
		return nil; -- written as no type attribute
	end
	return stanza_type;
end

local function to_stanza(object, defaults)
	if not is_object(object) then
		return nil, "the payload must be a JSON object";
	end
	for key in pairs(object) do
		if type(key) ~= "string" or not (common_fields[key] or field_kind[key]) then
			return nil, ("unsupported field %s"):format(type(key) == "string" and ("%q"):format(key) or tostring(key));
		end
	end
	local kind, err = decide_kind(object, defaults and defaults.kind);
	if not kind then return nil, err; end
	for key in pairs(object) do
		local belongs = field_kind[key];
		if belongs and belongs ~= kind then
			return nil, ("'%s' does not belong in a%s %s stanza"):format(key, kind == "iq" and "n" or "", kind);
		end
	end
	local stanza_type;
	stanza_type, err = decide_type(object, kind);
	if err then return nil, err; end

	local attr = { type = stanza_type };
	if object.to ~= nil then
		attr.to, err = check_jid(object.to, "to");
		if not attr.to then return nil, err; end
	end
	if object.from ~= nil then
		attr.from, err = check_jid(object.from, "from");
		if not attr.from then return nil, err; end
	end
	if object.id ~= nil then
		attr.id, err = check_string(object.id, "id");
		if not attr.id then return nil, err; end
	end
	if object.lang ~= nil then
		attr["xml:lang"], err = check_string(object.lang, "lang");
		if not attr["xml:lang"] then return nil, err; end
	end

	local stanza = st.stanza(kind, attr);
	for _, encoder in ipairs(encoders) do
		local value = object[encoder[1]];
		if value == json.null then
			return nil, ("'%s' must not be null"):format(encoder[1]);
		elseif value ~= nil then
			local ok, encode_err = encoder[2](stanza, value, object);
			if not ok then return nil, encode_err; end
		end
	end
	inherit_namespaces(stanza, nil);
	return stanza;
end

-- Stanza -> JSON ----------------------------------------------------------------------------

-- Elements in the xhtml namespace inside the body lose their (redundant) xmlns attribute.
local function strip_xhtml_namespace(element)
	local copy = st.clone(element);
	local function strip(node)
		if node.attr.xmlns == NS_XHTML then node.attr.xmlns = nil; end
		for _, child in ipairs(node.tags) do strip(child); end
	end
	strip(copy);
	return tostring(copy);
end

local function disco_info_to_json(query, is_result)
	if not is_result then
		return query.attr.node or true;
	end
	local identities, features, extensions = array(), array(), nil;
	for child in each_child(query, NS_DISCO_INFO) do
		if child.name == "identity" and child.attr.category and child.attr.type then
			identities:push({ category = child.attr.category, type = child.attr.type, name = child.attr.name });
		elseif child.name == "feature" and child.attr.var then
			features:push(child.attr.var);
		end
	end
	for form in each_child(query, NS_DISCO_INFO, "x", NS_DATA) do
		local data = form_to_data(form);
		local form_type = data.FORM_TYPE;
		if type(form_type) == "table" then form_type = form_type[1]; end
		if type(form_type) == "string" then
			data.FORM_TYPE = nil;
			extensions = extensions or {};
			extensions[form_type] = data;
		end
	end
	return { node = query.attr.node, identities = identities, features = features, extensions = extensions };
end

local function disco_items_to_json(query, is_result)
	if not is_result then
		return query.attr.node or true;
	end
	local items = array();
	for item in each_child(query, NS_DISCO_ITEMS, "item") do
		if item.attr.jid then
			items:push({ jid = item.attr.jid, name = item.attr.name, node = item.attr.node });
		end
	end
	return items;
end

local function command_to_json(command)
	local object = {
		node = command.attr.node, action = command.attr.action,
		sessionid = command.attr.sessionid, status = command.attr.status,
	};
	local actions = first_child(command, NS_COMMANDS, "actions");
	if actions then
		object.actions = { execute = actions.attr.execute };
		for action in each_child(actions, NS_COMMANDS) do
			if action.name == "next" or action.name == "prev" or action.name == "complete" then
				object.actions[action.name] = true;
			end
		end
	end
	local note = first_child(command, NS_COMMANDS, "note");
	if note then
		object.note = { type = note.attr.type, text = note:get_text() };
	end
	local form = first_child(command, NS_COMMANDS, "x", NS_DATA);
	if form then
		if form.attr.type == "form" then
			object.form = dataform_to_json(form);
		else
			object.data = form_to_data(form);
		end
	end
	return object;
end

local function version_to_json(query)
	return {
		name = child_text(query, NS_VERSION, "name"),
		version = child_text(query, NS_VERSION, "version"),
		os = child_text(query, NS_VERSION, "os"),
	};
end

local function error_to_json(stanza)
	local error_tag = first_child(stanza, "jabber:client", "error");
	if not error_tag then return nil; end
	local condition;
	for child in each_child(error_tag, "jabber:client", nil, NS_STANZAS) do
		if child.name ~= "text" then condition = child.name; break; end
	end
	return {
		type = error_tag.attr.type, condition = condition, by = error_tag.attr.by,
		text = child_text(error_tag, "jabber:client", "text", NS_STANZAS),
	};
end

-- decoder(child, stanza) -> key, value; keyed by "{namespace}name" of the child element.
local decoders = {
	["{jabber:client}body"] = function (child) return "body", child:get_text(); end;
	["{jabber:client}subject"] = function (child) return "subject", child:get_text(); end;
	["{" .. NS_XHTML_IM .. "}html"] = function (child)
		local body = first_child(child, NS_XHTML_IM, "body", NS_XHTML);
		if body then return "html", strip_xhtml_namespace(body); end
	end;
	["{" .. NS_OOB .. "}x"] = function (child) return "oob_url", child_text(child, NS_OOB, "url"); end;
	["{jabber:client}show"] = function (child) return "show", child:get_text(); end;
	["{jabber:client}status"] = function (child) return "status", child:get_text(); end;
	["{jabber:client}priority"] = function (child) return "priority", math.tointeger(tonumber(child:get_text())); end;
	["{" .. NS_MUC .. "}x"] = function () return "join", true; end;
	["{" .. NS_PING .. "}ping"] = function () return "ping", true; end;
	["{" .. NS_VERSION .. "}query"] = function (child) return "version", version_to_json(child); end;
	["{" .. NS_DISCO_INFO .. "}query"] = function (child, stanza)
		return "disco", disco_info_to_json(child, stanza.attr.type == "result");
	end;
	["{" .. NS_DISCO_ITEMS .. "}query"] = function (child, stanza)
		return "items", disco_items_to_json(child, stanza.attr.type == "result");
	end;
	["{" .. NS_COMMANDS .. "}command"] = function (child) return "command", command_to_json(child); end;
};
for state in pairs(chat_states) do
	decoders["{" .. NS_CHATSTATES .. "}" .. state] = function () return "state", state; end;
end

local function to_object(stanza)
	local object = {
		kind = stanza.name,
		type = stanza.attr.type,
		to = stanza.attr.to, from = stanza.attr.from, id = stanza.attr.id,
		lang = stanza.attr["xml:lang"],
	};
	if stanza.name == "presence" and object.type == nil then
		object.type = "available";
	end
	for _, child in ipairs(stanza.tags) do
		local decode = decoders["{" .. (child.attr.xmlns or "jabber:client") .. "}" .. child.name];
		if decode then
			local key, value = decode(child, stanza);
			if key and object[key] == nil and field_kind[key] == stanza.name then
				object[key] = value;
			end
		end
	end
	if object.type == "error" then
		object.error = error_to_json(stanza);
	end
	return object;
end

-- Flat fields (a form body or a query string) -> object -------------------------------------

local function truthy_or_node(value)
	if value == "" or value == "true" then return true; end
	return value;
end

local field_parsers = {
	join = function (value)
		if value == "" or value == "true" or value == "1" then return true;
		elseif value == "false" or value == "0" then return false; end
		return nil, "'join' must be true or false";
	end;
	ping = function (value)
		if value == "" or value == "true" or value == "1" then return true; end
		return nil, "'ping' must be true";
	end;
	priority = function (value)
		local number = math.tointeger(tonumber(value));
		if not number then return nil, "'priority' must be an integer"; end
		return number;
	end;
	version = function (value)
		if value == "" or value == "true" then return true; end
		return nil, "'version' takes no value";
	end;
	disco = truthy_or_node;
	items = truthy_or_node;
};

local function from_fields(fields)
	local object = {};
	for _, field in ipairs(fields) do
		local name, value = field.name, field.value;
		if object[name] ~= nil then
			return nil, ("field %q is given twice"):format(name);
		elseif not valid_text(name) or not valid_text(value) then
			return nil, "form fields must be UTF-8 text without control characters";
		elseif name == "error" or not (common_fields[name] or field_kind[name]) then
			return nil, ("unsupported field %q"):format(name);
		end
		local parse = field_parsers[name];
		if parse then
			local parsed, err = parse(value);
			if parsed == nil then return nil, err; end
			object[name] = parsed;
		else
			object[name] = value;
		end
	end
	return object;
end

return {
	to_stanza = to_stanza;
	to_object = to_object;
	from_fields = from_fields;
	is_object = is_object;
	prep_jid = prep_jid;
	fields = field_kind;
};
