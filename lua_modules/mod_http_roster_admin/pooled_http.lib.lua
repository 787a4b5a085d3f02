-- Copyright (C) 2026 the prosody-harness authors
--
-- This project is MIT licensed. Please see pyproject.toml at the root of the
-- repository for the licence.
--
-- pooled_http: GET requests to one web service over HTTP/1.1 connections that stay open
-- between requests (net.http in Prosody 0.12 opens a connection per request; 13's pooling is
-- not in 0.12). A module loads it with module:require "pooled_http"; mod_http_roster_admin and
-- mod_muc_http_auth each carry an identical copy (tests/lint checks that they agree).
--
--     local client = module:require "pooled_http".new(base_url, options);
--     local request = client:get(path_and_query, done, context);
--     -- done(context, body, code): code is the HTTP status, or 0 with the reason as body,
--     -- exactly as net.http calls back. request:cancel(reason) ends it early (done is
--     -- called with code 0); client:close() closes the idle connections.
--
-- Only plain http:// origins without user information are pooled. Anything else (https,
-- credentials in the URL) goes through net.http unchanged, so TLS and certificate checks stay
-- exactly Prosody's. A request sent on a reused connection that the service closes before
-- answering a byte (it may have dropped the idle connection meanwhile) is sent once more on a
-- new connection: GET is idempotent.

local basic_resolver = require "net.resolvers.basic";
local connect = require "net.connect".connect;
local http = require "net.http";
local new_parser = require "net.http.parser".new;

local pairs, setmetatable, tonumber = pairs, setmetatable, tonumber;

-- Requests ----------------------------------------------------------------------------------------

local request_methods = {};
local request_mt = { __index = request_methods };

-- Calls the request's callback once; later outcomes (a cancelled request's disconnect) are dropped.
local function settle(request, body, code)
	local done = request.done;
	if not done then return; end
	request.done = nil;
	done(request.context, body, code);
end

-- Connections -------------------------------------------------------------------------------------

-- Per open connection: { conn, client, request (in flight), reused (served one before), answered
-- (a byte of the current answer arrived), parser (Prosody's, made when first needed) }.
local by_conn = {};
local listeners = {};

local open_connection; -- forward declaration

local function forget(state)
	if state.conn then by_conn[state.conn] = nil; end
	local idle = state.client.idle;
	for i = #idle, 1, -1 do
		if idle[i] == state then table.remove(idle, i); end
	end
end

local function close_connection(state)
	forget(state);
	local conn = state.conn;
	state.conn, state.closed = nil, true;
	if conn then conn:close(); end -- its ondisconnect finds nothing left to do
end

local function keep_alive(response)
	local connection = response.headers.connection;
	if response.httpversion ~= "1.1" or (connection and connection:lower():find("close", 1, true)) then
		return false;
	end
	return response.body_length ~= nil or response.chunked;
end

local function response_parsed(state, response)
	if response.partial then return; end -- the parser's early notice; the whole answer follows
	local request = state.request;
	state.request, state.answered = nil, false;
	local client = state.client;
	if keep_alive(response) and not state.closed and #client.idle < client.max_idle then
		state.reused = true;
		client.idle[#client.idle + 1] = state;
	else
		close_connection(state);
	end
	if request then settle(request, response.body, response.code); end
end

local function parse_failed(state, reason)
	local request = state.request;
	state.request = nil;
	close_connection(state);
	if request then settle(request, reason or "invalid response", 0); end
end

local parser_options = { method = "GET" };
local function get_parser_options() return parser_options; end

local function parser_of(state)
	local parser = state.parser;
	if not parser then
		parser = new_parser(function (response) response_parsed(state, response); end,
			function (reason) parse_failed(state, reason); end, "client", get_parser_options);
		state.parser = parser;
	end
	return parser;
end

-- Most answers arrive whole in one read: a status line, a Content-Length, no chunking. Such an
-- answer is read where it lies, without copying it into a buffer and out again; anything else
-- (split across reads, chunked, no length, a 1xx/204/304, anything odd) goes to Prosody's parser,
-- which then reads the rest of the connection's answers.
local CONTENT_LENGTH = "\r\n[Cc][Oo][Nn][Tt][Ee][Nn][Tt]%-[Ll][Ee][Nn][Gg][Tt][Hh]:[ \t]*(%d+)[ \t]*\r\n";
local TRANSFER_ENCODING = "\r\n[Tt][Rr][Aa][Nn][Ss][Ff][Ee][Rr]%-[Ee][Nn][Cc][Oo][Dd][Ii][Nn][Gg]:";
local CONNECTION_CLOSE = "\r\n[Cc][Oo][Nn][Nn][Ee][Cc][Tt][Ii][Oo][Nn]:[^\r\n]*[Cc][Ll][Oo][Ss][Ee]";
local whole_answer = { headers = {} }; -- what response_parsed reads, refilled for each answer
-- Prosody's parser refuses a body over 10 MiB (its default body_size_limit); the fast path must
-- not accept what the parser would refuse.
local BODY_LIMIT = 10 * 1024 * 1024;
-- Bytes read per read. net.connect's default ("*a") reads whatever has arrived, however much:
-- a service sending 50 MB fast enough would have it read, buffered and parsed in one go.
local READ_SIZE = 65536;

-- Whether every line of the head after the status line is a "Name: value" field, as Prosody's
-- parser requires (it fails the answer otherwise).
local function fields_well_formed(data, head_end)
	local line_start = data:find("\r\n", 1, true) + 2;
	while line_start < head_end + 2 do
		if not data:find("^[^%s:]+:", line_start) then return false; end
		line_start = data:find("\r\n", line_start, true) + 2;
	end
	return true;
end

local function read_whole_answer(state, data)
	local version, code = data:match("^HTTP/(1%.[01]) ([2-5]%d%d) ");
	-- Prosody's parser reads no body after a 204, 304 or 301.
	if not version or code == "204" or code == "304" or code == "301" then return false; end
	local head_end = data:find("\r\n\r\n", 1, true);
	if not head_end or head_end > 10240 or not fields_well_formed(data, head_end) then return false; end
	local found, found_end, length = data:find(CONTENT_LENGTH);
	if not found or found > head_end then return false; end
	local again = data:find(CONTENT_LENGTH, found_end - 1);
	if again and again < head_end then return false; end
	local encoding = data:find(TRANSFER_ENCODING);
	if encoding and encoding < head_end then return false; end
	local body_start = head_end + 4;
	length = tonumber(length);
	if length > BODY_LIMIT or #data ~= body_start - 1 + length then return false; end
	local close = data:find(CONNECTION_CLOSE);
	whole_answer.httpversion, whole_answer.code = version, tonumber(code);
	whole_answer.body, whole_answer.body_length = data:sub(body_start), length;
	whole_answer.headers.connection = (close and close < head_end) and "close" or nil;
	response_parsed(state, whole_answer);
	return true;
end

local function new_state(client)
	return { client = client, reused = false, answered = false };
end

function listeners.onattach(conn, state)
	state.conn = conn;
	by_conn[conn] = state;
end

function listeners.onconnect(conn)
	local state = by_conn[conn];
	if not state then return; end
	local request = state.request;
	if not request then -- cancelled while connecting
		return close_connection(state);
	end
	conn:write(request.head);
end

function listeners.onincoming(conn, data)
	local state = by_conn[conn];
	if not state then return; end
	if not state.request then -- nothing was asked: not a service to keep talking to
		return close_connection(state);
	end
	state.answered = true;
	if state.parser or not read_whole_answer(state, data) then
		parser_of(state):feed(data);
	end
end

function listeners.ondisconnect(conn, err)
	local state = by_conn[conn];
	if not state then return; end
	forget(state);
	state.conn, state.closed = nil, true;
	local request = state.request;
	if request and request.done and state.parser then
		-- An answer read until the connection closes ends here.
		state.parser:feed(nil);
	end
	request = state.request;
	state.request = nil;
	if not request or not request.done then return; end
	if state.reused and not state.answered and not request.retried then
		request.retried = true;
		return open_connection(state.client, request);
	end
	settle(request, err or "closed", 0);
end

function listeners.onfail(state, reason)
	local request = state.request;
	state.request, state.closed = nil, true;
	if request then settle(request, reason or "connection failed", 0); end
end

-- A connection's read timeout: an idle one is simply closed; one waiting for an answer is left
-- to the caller's own timeout.
function listeners.onreadtimeout(conn)
	local state = by_conn[conn];
	if state and state.request then return true; end
end

function open_connection(client, request)
	local state = new_state(client);
	state.request = request;
	request.state = state;
	local resolver = basic_resolver.new(client.host, client.port, "tcp", { servername = client.host });
	connect(resolver, listeners, { sslctx = false, pattern = READ_SIZE }, state);
end

-- If the connection turns out to be gone, its ondisconnect sends the request again.
local function send_on(state, request)
	state.request, state.answered = request, false;
	request.state = state;
	state.conn:write(request.head);
end

function request_methods:cancel(reason)
	local state = self.state;
	if state and state.request == self then
		state.request = nil;
		close_connection(state);
	end
	settle(self, reason or "cancelled", 0);
	local unpooled = self.http;
	if unpooled and unpooled.cancel then unpooled:cancel(reason); end
end

-- Clients -----------------------------------------------------------------------------------------

local client_methods = {};
local client_mt = { __index = client_methods };

function client_methods:get(target, done, context)
	local request = setmetatable({ done = done, context = context }, request_mt);
	if not self.host then -- not pooled: net.http as it is
		request.http = http.request(self.base..target, self.http_options, function (body, code)
			settle(request, body, code);
		end);
		return request;
	end
	request.head = "GET "..target.." HTTP/1.1\r\n"..self.head_fields;
	local idle = self.idle;
	local state = idle[#idle];
	if state then
		idle[#idle] = nil;
		send_on(state, request);
	else
		open_connection(self, request);
	end
	return request;
end

function client_methods:close()
	local idle = self.idle;
	while idle[#idle] do
		close_connection(idle[#idle]);
	end
end

-- The HTTP head fields after the request line: net.http's (Host, User-Agent), then the caller's.
local function head_fields(host_field, headers)
	local fields = { "Host: "..host_field, "User-Agent: Prosody XMPP Server" };
	for name, value in pairs(headers or {}) do
		fields[#fields + 1] = name..": "..value;
	end
	return table.concat(fields, "\r\n").."\r\n\r\n";
end

-- base: "http://host[:port]" (the part of the URL every request shares; `target` of get() is
-- appended). options: headers (a table of header fields), max_idle (connections kept open,
-- default 8), and for net.http when not pooled: insecure, sslctx.
local function new(base, options)
	options = options or {};
	local client = setmetatable({
		base = base;
		idle = {};
		max_idle = options.max_idle or 8;
		http_options = { headers = options.headers, insecure = options.insecure, sslctx = options.sslctx };
	}, client_mt);
	local authority = base:match("^http://([^/?#@]+)$");
	local host, port;
	if authority then
		host, port = authority:match("^%[([^%]]+)%]:?(%d*)$");
		if not host then host, port = authority:match("^([^:]+):?(%d*)$"); end
	end
	if host then
		client.host, client.port = host, tonumber(port) or 80;
		local host_field = authority;
		if port == "80" then host_field = authority:sub(1, -4); end
		client.head_fields = head_fields(host_field, options.headers);
	end
	return client;
end

-- Splits a URL into the part every request to its origin shares and the rest: ("http://h:p",
-- "/path?query"). The rest is "/" when the URL has no path.
local function split_url(url)
	local base, rest = url:match("^(https?://[^/?#]*)(.*)$");
	if not base then return nil; end
	if rest == "" then rest = "/"; elseif rest:sub(1, 1) == "?" then rest = "/"..rest; end
	return base, rest;
end

return {
	new = new;
	split_url = split_url;
};
