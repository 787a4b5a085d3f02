-- Client sessions for the sandbox. Stands in for Prosody's mod_c2s: there is no
-- socket and no SASL exchange; the harness logs a client in directly (checking the
-- password with usermanager) and feeds it stanzas through a real XMPP stream parser,
-- so handlers see sessions and stanzas shaped exactly as mod_c2s makes them.
local st = require "util.stanza";
local async = require "util.async";
local new_xmpp_stream = require "util.xmppstream".new;
local nodeprep = require "util.encodings".stringprep.nodeprep;
local sessionmanager = require "core.sessionmanager";
local usermanager = require "core.usermanager";
local sandbox = require "harness.sandbox";

local core_process_stanza = prosody.core_process_stanza;
local bridge = sandbox.bridge;

local stream_header = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='%s'>";

local sessions = sandbox.c2s_sessions;

local runner_callbacks = {};
function runner_callbacks:ready() end
function runner_callbacks:waiting() end
function runner_callbacks:error(err)
	(self.data.log or module._log)("error", "Traceback[c2s]: %s", err);
end

local stream_callbacks = { default_ns = "jabber:client" };
function stream_callbacks.handlestanza(session, stanza)
	stanza = session.filter("stanzas/in", stanza);
	if stanza then session.thread:run(stanza); end
end
function stream_callbacks.streamopened(session)
	session.notopen = nil;
end
function stream_callbacks.streamclosed(session)
	session:close(false);
end
function stream_callbacks.error(session, err, data)
	session.log("debug", "Invalid XML from the harness: %s %s", err, data);
	session:close("not-well-formed");
end

local function session_close(session, reason)
	local close_event_payload = { session = session, reason = reason };
	module:context(session.host):fire_event("pre-session-close", close_event_payload);
	reason = close_event_payload.reason;
	if session.conn then
		if reason then
			local condition = type(reason) == "table" and reason.condition or reason;
			if type(condition) == "string" then
				session.send(st.stanza("stream:error")
					:tag(condition, { xmlns = "urn:ietf:params:xml:ns:xmpp-streams" }));
			end
		end
		session.send("</stream:stream>");
		function session.send() return false; end
		local id = session.sandbox_id;
		sessions[id] = nil;
		session.conn = nil;
		local reason_text = (reason and (reason.name or reason.text or reason.condition)) or reason;
		sessionmanager.destroy_session(session, reason_text);
		bridge.c2s_closed(id);
	end
end

-- The connection object sessionmanager writes to: output goes to the harness. There is no
-- socket; its address is loopback and its port one of the ephemeral range, as a client's
-- would be.
local connections = 0;
local function new_conn(id)
	local conn = { id = id };
	connections = connections + 1;
	local port = 49152 + connections % 16384;
	function conn:write(data) bridge.c2s_output(id, data); return true; end
	function conn:ip() return "127.0.0.1"; end
	function conn:clientport() return port; end
	function conn:ssl() return false; end
	function conn:close() end
	return conn;
end

local function new_session(id)
	local session = sessionmanager.new_session(new_conn(id));
	session.sandbox_id = id;
	session.close = session_close;
	session.host = module.host;
	session.version = 1;
	session.streamid = id;
	session.thread = async.runner(function (stanza)
		core_process_stanza(session, stanza);
	end, runner_callbacks, session);
	session.stream = new_xmpp_stream(session, stream_callbacks);
	session.notopen = true;
	assert(session.stream:feed(stream_header:format(module.host)));
	function session.data(data)
		local ok, err = session.stream:feed(data);
		if not ok then
			session.log("debug", "Invalid XML from the harness: %s", err);
			session:close("not-well-formed");
		end
	end
	return session;
end

-- Logs a client in on this host: returns the session's full JID, or nil and an
-- error condition.
local function login(id, username, password, resource)
	local host = module.host;
	username = nodeprep(username);
	if not username or not usermanager.test_password(username, host, password) then
		return nil, "not-authorized";
	end
	local session = new_session(id);
	local ok, err = sessionmanager.make_authenticated(session, username);
	if ok then
		module:fire_event("authentication-success", { session = session });
		local _, err_type, condition, text = sessionmanager.bind_resource(session, resource);
		err = err_type and (condition..(text and (": "..text) or ""));
	end
	if err then
		session:close();
		return nil, err;
	end
	sessions[id] = session;
	return session.full_jid;
end

sandbox.c2s_login[module.host] = login;

-- As mod_c2s does: a user's sessions are closed when the account is deleted or disabled,
-- or its role changes; when the password changes, all but the resource that changed it.
local function disconnect_user_sessions(reason, leave_resource)
	return function (event)
		if event.host ~= module.host then return; end
		local user = prosody.hosts[event.host].sessions[event.username];
		if not (user and user.sessions) then return; end
		for resource, session in pairs(user.sessions) do
			if not leave_resource or resource ~= event.resource then
				session:close(reason);
			end
		end
	end
end

module:hook_global("user-password-changed",
	disconnect_user_sessions({ condition = "reset", text = "Password changed" }, true), 200);
module:hook_global("user-deleted",
	disconnect_user_sessions({ condition = "not-authorized", text = "Account deleted" }), 200);
module:hook_global("user-disabled",
	disconnect_user_sessions({ condition = "not-authorized", text = "Account disabled" }), 200);
module:hook_global("user-roles-changed", -- 0.12
	disconnect_user_sessions({ condition = "reset", text = "Roles changed" }), 200);
module:hook_global("user-role-changed", -- 13
	disconnect_user_sessions({ condition = "reset", text = "Role changed" }), 200);

-- As mod_c2s does when the server stops: every session of this host is closed.
module:hook_global("server-stopping", function (event)
	for _, session in pairs(sessions) do
		if session.host == module.host then
			session:close({ condition = "system-shutdown", text = event.reason });
		end
	end
end);

function module.unload()
	sandbox.c2s_login[module.host] = nil;
end
