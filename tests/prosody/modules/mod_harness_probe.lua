-- Test fixture for tests/prosody: an HTTP module loaded from a user-named modules
-- directory, with routes that answer, fail, and log a traceback below error level.
local json = require "util.json";

local function echo(event)
	event.response.headers.content_type = "application/json";
	return json.encode({ path = event.request.path, host = module.host });
end

local function fail()
	error("deliberate failure for the log test");
end

local function warn_with_traceback()
	module:log("warn", "something odd: %s", debug.traceback("odd but survivable"));
	return "logged";
end

module:depends("http");
module:provides("http", {
	route = {
		["GET /echo"] = echo;
		["GET /fail"] = fail;
		["GET /warn"] = warn_with_traceback;
	};
});
