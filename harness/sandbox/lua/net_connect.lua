-- net.connect for the sandbox: the target's name is handed to Python as it is
-- (Python resolves it), instead of Prosody's DNS resolvers which need raw sockets.
local log = require "util.logger".init("net.connect");

return function (server)
	local pending = setmetatable({}, { __mode = "k" });
	local pending_listener = {};

	function pending_listener.onconnect(conn)
		local p = pending[conn];
		pending[conn] = nil;
		conn:setlistener(p.listeners, p.data);
		return p.listeners.onconnect(conn);
	end

	function pending_listener.ondisconnect(conn, reason)
		local p = pending[conn];
		if not p then return; end
		pending[conn] = nil;
		log("debug", "Connection attempt failed: %s", reason);
		if p.listeners.onfail then
			p.listeners.onfail(p.data, reason or "connection failed");
		end
	end

	local function connect(target_resolver, listeners, options, data)
		options = options or {};
		local host = target_resolver.hostname;
		local port = target_resolver.port;
		if not host then
			if listeners.onfail then listeners.onfail(data, target_resolver.last_error or "unable to resolve service"); end
			return;
		end
		-- net.http marks a request insecure (no certificate check) on its request object.
		local insecure = type(data) == "table" and data.insecure or nil;
		local conn = server.addclient(host, port, pending_listener, options.pattern or "*a",
			options.sslctx, nil, { servername = host, insecure = insecure });
		pending[conn] = { listeners = assert(listeners), data = data };
	end

	return { connect = connect };
end
