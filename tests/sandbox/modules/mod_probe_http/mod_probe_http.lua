-- Test fixture: HTTP routes with each of net.http.server's return conventions.
local json = require "util.json";
local errors = require "util.error";
local promise = require "util.promise";

module:depends("http");

local function echo(event, path)
	local request = event.request;
	event.response.headers.content_type = "application/json";
	return json.encode({
		method = request.method;
		path = request.path;
		wildcard = path;
		query = request.url.query;
		body = request.body;
		header = request.headers.x_probe;
		host = event.request.headers.host;
	});
end

module:provides("http", {
	route = {
		["GET /echo"] = echo;
		["POST /echo/*"] = echo;
		["GET /created"] = function () return 201; end;
		["GET /forbidden"] = function () return 403; end;
		["GET /table"] = function ()
			return { status_code = 202; headers = { x_probe = "yes" }; body = "accepted" };
		end;
		["GET /error"] = function ()
			return errors.new({ type = "auth"; condition = "not-authorized"; code = 401; text = "no" });
		end;
		["GET /later"] = function ()
			return promise.new(function (resolve)
				module:add_timer(1, function () resolve("resolved after a second"); end);
			end);
		end;
		["GET /explode"] = function () error("route exploded"); end;
		PUT = function (event) return "bare method at "..event.request.path; end;
	};
});
