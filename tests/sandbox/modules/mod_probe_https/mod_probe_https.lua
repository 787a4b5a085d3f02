-- Test fixture: an https request made the ways modules make them, on an HTTP route:
-- GET /probe_https/CASE?url=URL answers "CODE REASON" once the request has finished.
local http = require "net.http";
local certmanager = require "core.certmanager";
local urldecode = require "util.http".urldecode;

local cases = {
	default = function () return {}; end;
	insecure = function () return { insecure = true }; end;
	-- What modules wrote for 0.12: a table of LuaSec settings (13 cannot use it).
	table = function ()
		return { insecure = true, sslctx = { mode = "client", protocol = "sslv23", verify = "none" } };
	end;
	context_none = function ()
		return { insecure = true, sslctx = certmanager.create_context("probe", "client", { verify = "none" }) };
	end;
};

module:depends("http");
module:provides("http", {
	route = {
		["GET /*"] = function (event, case)
			local make = cases[case];
			if not make then return 404; end
			local url = urldecode(event.request.url.query:match("url=([^&]+)"));
			local response = event.response;
			http.request(url, make(), function (body, code)
				response:send(("%d %s"):format(code, code == 0 and tostring(body) or ""));
			end);
			return true;
		end;
	};
});
