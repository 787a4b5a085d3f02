-- Benchmark probe (bench/instrumented.py loads it on the first virtual host of every arm
-- alike): Lua memory allocated over a stretch of work, and a sampling profiler.
-- It allocates nothing between its requests except while profiling (whose results are
-- not timed).
local json = require "util.json";

module:depends("http");

local sample_every = 1000; -- VM instructions between samples
local self_samples, inclusive_samples;
local hooked = setmetatable({}, { __mode = "k" });
local original_resume = coroutine.resume;
local main_thread = debug.getregistry()[1]; -- LUA_RIDX_MAINTHREAD: where net.server runs

-- A sample weighs what was spent since the previous one: CPU seconds (os.clock), or KB
-- allocated (collectgarbage("count"), with the collector stopped while profiling).
local clock = os.clock;
local function allocated() return collectgarbage("count"); end
local measure = clock;
local total_samples, total_seconds, last_clock = 0, 0, measure();

local function frame_key(info)
	local source = info.source:gsub("^@", "");
	return source .. ":" .. info.linedefined .. (info.what == "main" and " (main chunk)" or "");
end

local function sample()
	local info = debug.getinfo(2, "S");
	if not info then return; end
	-- Time spent in C (the garbage collector, string functions, socket calls) counts
	-- where it was spent, not as an instruction.
	local now = measure();
	local weight = now - last_clock;
	if weight < 0 then weight = 0; end -- memory freed explicitly (string buffers, resized tables)
	total_samples, total_seconds = total_samples + 1, total_seconds + weight;
	local key = frame_key(info);
	self_samples[key] = (self_samples[key] or 0) + weight;
	local seen = {};
	for level = 2, 60 do
		local frame = debug.getinfo(level, "S");
		if not frame then break; end
		local frame_id = frame.what ~= "C" and frame_key(frame);
		if frame_id and not seen[frame_id] then
			seen[frame_id] = true;
			inclusive_samples[frame_id] = (inclusive_samples[frame_id] or 0) + weight;
		end
	end
	last_clock = measure(); -- what this hook spent is nobody's
end

local function hooked_resume(thread, ...)
	if not hooked[thread] then
		hooked[thread] = true;
		debug.sethook(thread, sample, "", sample_every);
	end
	return original_resume(thread, ...);
end

local function answer(data)
	return {
		status_code = 200;
		headers = { content_type = "application/json" };
		body = json.encode(data);
	};
end

local actions = {};

function actions.gc_stop()
	collectgarbage("collect");
	collectgarbage("stop");
	return { kb = collectgarbage("count") };
end

function actions.gc_restart()
	local kb = collectgarbage("count");
	collectgarbage("restart");
	return { kb = kb };
end

local function profile_start(by, every)
	measure, sample_every = by, every;
	self_samples, inclusive_samples, total_samples, total_seconds = {}, {}, 0, 0;
	last_clock = measure();
	coroutine.resume = hooked_resume; -- luacheck: ignore 122
	debug.sethook(main_thread, sample, "", sample_every);
	local current = coroutine.running();
	if current ~= main_thread then
		hooked[current] = true;
		debug.sethook(current, sample, "", sample_every);
	end
	return { started = true };
end

function actions.profile_start()
	return profile_start(clock, 1000);
end

function actions.profile_alloc_start()
	collectgarbage("collect");
	collectgarbage("stop");
	return profile_start(allocated, 100); -- finer: allocations are charged where they happen
end

function actions.profile_stop()
	debug.sethook(main_thread);
	if measure == allocated then collectgarbage("restart"); end
	coroutine.resume = original_resume; -- luacheck: ignore 122
	for thread in pairs(hooked) do
		if coroutine.status(thread) ~= "dead" then debug.sethook(thread); end
		hooked[thread] = nil;
	end
	local list = {};
	for key, count in pairs(inclusive_samples or {}) do
		list[#list + 1] = { where = key, inclusive = count, self = self_samples[key] or 0 };
	end
	table.sort(list, function (a, b) return a.inclusive > b.inclusive; end);
	return { functions = list, samples = total_samples, seconds = total_seconds };
end

module:provides("http", {
	route = {
		["POST /*"] = function (_, action)
			local handler = actions[(action or ""):gsub("-", "_")];
			if not handler then return 404; end
			return answer(handler());
		end;
	};
});
