-- The sandbox's net.server backend: timers run on a virtual clock that only the
-- sandbox advances, and sockets belong to Python (harness.sandbox.sockets), which
-- reports their events back through deliver_* below on the sandbox's loop thread.
local indexedbheap = require "util.indexedbheap";
local log = require "util.logger".init("server");
local xpcall, traceback = xpcall, debug.traceback;

return function (bridge, clock)
	local server = {};

	-- Timers ------------------------------------------------------------------
	local heap = indexedbheap.create();
	local params = {};
	local timer = {};

	local function report(err)
		log("error", "Traceback[timer]: %s", traceback(tostring(err), 2));
	end

	function timer.add_task(delay, callback, param)
		local id = heap:insert(callback, clock.now + delay);
		params[id] = param;
		return id;
	end

	function timer.stop(id)
		params[id] = nil;
		return heap:remove(id);
	end

	function timer.reschedule(id, delay)
		return heap:reprioritize(id, clock.now + delay);
	end

	-- Runs every task due at the current virtual time; a task returning a number
	-- runs again that many seconds later, as util.timer does.
	function server.run_due_timers()
		local ran = 0;
		while true do
			local due = heap:peek();
			if due == nil or due > clock.now then break; end
			local _, callback, id = heap:pop();
			local param = params[id];
			params[id] = nil;
			ran = ran + 1;
			local ok, again = xpcall(callback, report, clock.now, id, param);
			if ok and type(again) == "number" then
				heap:insert(callback, clock.now + again, id);
				params[id] = param;
			end
		end
		return ran;
	end

	function server.next_timer()
		return heap:peek();
	end

	-- The loop's one call per round: the clock moves to `now` (never back), every task
	-- then due runs, and the answer is when the next one is due.
	function server.tick(now)
		if now > clock.now then clock.now = now; end
		server.run_due_timers();
		return heap:peek();
	end

	server.timer = timer;
	server.add_task = timer.add_task;

	-- Connections ---------------------------------------------------------------
	local conns = {};
	local conn_methods = {};
	local conn_mt = { __index = conn_methods };

	function conn_mt:__tostring()
		return ("sandbox-conn[%d]"):format(self.id);
	end

	local function new_conn(id, listener, ip, port, serverport, data)
		local conn = setmetatable({
			id = id, listener = listener, _ip = ip, _port = port, _serverport = serverport,
			_data = data,
		}, conn_mt);
		conns[id] = conn;
		return conn;
	end

	function conn_methods:write(data)
		if self._closed then return nil, "closed"; end
		bridge.sock_write(self.id, data);
		return true;
	end
	conn_methods.send = conn_methods.write;

	function conn_methods:close()
		if self._closed then return; end
		self._closed = true;
		bridge.sock_close(self.id);
		conns[self.id] = nil;
		if self.listener.ondisconnect then
			self.listener.ondisconnect(self, nil);
		end
	end
	conn_methods.force_close = conn_methods.close;

	function conn_methods:setlistener(listener, data)
		if self.listener.ondetach then self.listener.ondetach(self); end
		self.listener = listener;
		if listener.onattach then listener.onattach(self, data); end
	end

	function conn_methods:ip() return self._ip; end
	function conn_methods:port() return self._port; end
	function conn_methods:clientport() return self._port; end
	function conn_methods:serverport() return self._serverport; end
	function conn_methods:ssl() return false; end
	function conn_methods:socket() return self; end
	function conn_methods:pause() end
	function conn_methods:resume() end
	function conn_methods:pausefor() end
	function conn_methods:setoption() return true; end
	function conn_methods:set_mode() end
	function conn_methods:setdata(data) self._data = data; end
	function conn_methods:getdata() return self._data; end
	function conn_methods:starttls()
		error("TLS is not available in the sandbox");
	end

	-- Listening servers, keyed by the id Python gave their socket.
	local servers = {};

	function server.listen(addr, port, listener, config)
		local id, err = bridge.listen(addr, port);
		if not id then return nil, err; end
		local srv = { id = id, listener = listener, config = config, hosts = {} };
		function srv.close() bridge.sock_close(id); servers[id] = nil; end
		srv.ip = function () return addr; end;
		srv.port = function () return port; end;
		servers[id] = srv;
		return srv;
	end

	function server.addserver(addr, port, listener, pattern, sslctx) --luacheck: ignore 212
		return server.listen(addr, port, listener, {});
	end

	-- TLS is done by Python with the checks Prosody's own code would make. 0.12's
	-- contexts continue past a bad chain (lsec_continue) and net.http then checks chain
	-- and name unless the request is insecure; 13's stop at a bad chain in the handshake
	-- unless the context says verify = "none", and never consider the common name. A
	-- context is what certmanager made (see boot.lua); 0.12 also takes a plain table of
	-- LuaSec settings, which 13's server_epoll cannot use (it calls the context's wrap
	-- method), so there it fails as it does in Prosody.
	function server.addclient(host, port, listener, pattern, sslctx, typ, extra) --luacheck: ignore 212
		local tls;
		if sslctx then
			local v13 = server.contexts_required;
			if v13 and not sslctx.sandbox_context then
				error("attempt to call a nil value (method 'wrap')");
			end
			local insecure = extra and extra.insecure or false;
			tls = {
				servername = extra and extra.servername or host;
				cafile = sslctx.cafile, capath = sslctx.capath;
				verify_chain = not insecure or (v13 and sslctx.verify ~= "none");
				verify_name = not insecure;
				common_name_counts = not v13;
			};
		end
		return new_conn(bridge.connect(host, port, tls), listener, host, port, nil, nil);
	end

	-- Events from Python ---------------------------------------------------------
	function server.deliver_accept(server_id, conn_id, ip, port)
		local srv = servers[server_id];
		if not srv then bridge.sock_close(conn_id); return; end
		local conn = new_conn(conn_id, srv.listener, ip, port, srv.port());
		if conn.listener.onconnect then conn.listener.onconnect(conn); end
	end

	function server.deliver_connected(conn_id)
		local conn = conns[conn_id];
		if conn and conn.listener.onconnect then conn.listener.onconnect(conn); end
	end

	function server.deliver_incoming(conn_id, data)
		local conn = conns[conn_id];
		if conn and conn.listener.onincoming then conn.listener.onincoming(conn, data); end
	end

	function server.deliver_disconnect(conn_id, reason)
		local conn = conns[conn_id];
		if not conn then return; end
		conns[conn_id] = nil;
		conn._closed = true;
		if conn.listener.ondisconnect then conn.listener.ondisconnect(conn, reason); end
	end

	function server.get_backend() return "sandbox"; end
	function server.set_config() end
	function server.setquitting() end
	function server.closeall()
		for _, conn in pairs(conns) do conn:close(); end
		for _, srv in pairs(servers) do srv.close(); end
	end
	function server.loop() error("the sandbox drives its own loop"); end
	function server.watchfd() return nil, "raw file descriptors are not available in the sandbox"; end
	function server.wrapclient() return nil, "wrapping sockets is not available in the sandbox"; end
	function server.link() end
	function server.hook_signal() end

	return server;
end
