-- A probe for tests/coverage: every executable line ends with "--@" and the number of
-- times the tests make it run, the same on every target ("--@ 2"), or per target
-- ("--@ sandbox:1 prosody:0", where prosody stands for the real server, local or in a
-- container). Lines without a mark are not executable. The tests load it on one host,
-- send two probe queries and make one HTTP request, then stop the server.
--
-- A count is what Lua's line hook reports: each time execution comes to the line from
-- another one. So a statement whose function argument ends on a later line counts twice
-- per run (its first line, the function's `end` line where the closure is made, its first
-- line again for the call); an `end` line counts when the closure is made, and again when
-- the function runs off its end; a loop's `for` line once, then once per pass.
local async = require "util.async"; --@ 1
local st = require "util.stanza"; --@ 1
local helper = module:require("probe_helper"); --@ 1

local function never_called()
	return "never"; --@ 0
end --@ 1

local function sum_to(n)
	local total = 0; --@ 3
	for i = 1, n do --@ 10
		total = total + i; --@ 7
	end
	return total; --@ 3
end --@ 1

local in_sandbox = false; --@ 1
if package.loaded["harness.sandbox"] then --@ 1
	in_sandbox = true; --@ sandbox:1 prosody:0
end

-- The query handler runs in the session's util.async runner (a coroutine), and makes
-- coroutines of its own, with each of the coroutine library's ways.
local function from_wrap(x)
	local doubled = coroutine.wrap(function (y) --@ 4
		coroutine.yield(helper.double(y)); --@ 2
	end); --@ 2
	return doubled(x); --@ 2
end --@ 1

local function from_create(x)
	local thread = coroutine.create(function (y) --@ 4
		local got = coroutine.yield(y + 1); --@ 2
		return got * 10; --@ 2
	end); --@ 2
	local _, first = coroutine.resume(thread, x); --@ 2
	local _, second = coroutine.resume(thread, first); --@ 2
	return second; --@ 2
end --@ 1

local function from_runner(x)
	local result; --@ 2
	local runner = async.runner(function (y) --@ 4
		result = sum_to(y); --@ 2
	end); --@ 4
	runner:run(x); --@ 2
	return result; --@ 2
end --@ 1

module:hook("iq-get/host/urn:example:coverage-probe:query", function (event) --@ 2
	local origin, stanza = event.origin, event.stanza; --@ 2
	local answer = from_wrap(1) + from_create(2) + from_runner(3); --@ 2
	if answer < 0 then --@ 2
		return never_called(); --@ 0
	end
	origin.send(st.reply(stanza):tag("query", { xmlns = "urn:example:coverage-probe", --@ 4
		answer = tostring(answer), sandbox = tostring(in_sandbox) })); --@ 2
	return true; --@ 2
end); --@ 1

module:depends("http"); --@ 1
module:provides("http", { --@ 2
	route = { --@ 1
		["GET /"] = function () return "probe " .. sum_to(1); end; --@ 2
	}; --@ 1
}); --@ 1
