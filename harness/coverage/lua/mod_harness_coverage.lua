-- prosody-harness --coverage: counts the lines Prosody runs of the Lua files under the
-- modules folder, and writes the counts when the server stops (or when asked).
--
-- It is loaded on "*" when the server starts, before any host's modules (load_first.lua),
-- so the lines a module runs while it loads are counted too. A line hook is set on the
-- main thread and on every coroutine (util.async runs handlers in coroutines): on those
-- created or resumed through the coroutine library from then on.
--
-- Options (global): harness_coverage_file, where the counts go; harness_coverage_roots,
-- the folders whose files are counted (as Prosody's plugin_paths name them).

local debug_getinfo, debug_sethook = debug.getinfo, debug.sethook;
local coroutine_create, coroutine_wrap, coroutine_resume = coroutine.create, coroutine.wrap, coroutine.resume;
local io_open, os_rename, os_remove = io.open, os.rename, os.remove;
local ipairs, pairs, setmetatable, type, tostring = ipairs, pairs, setmetatable, type, tostring;

module:set_global();

local output = module:get_option_string("harness_coverage_file");
local roots = module:get_option_array("harness_coverage_roots", {});

-- "@/path/to/modules/" for each root: a source name (chunkname) starting with one of these
-- is a file under the modules folder, spelt as util.pluginloader spells it.
local prefixes = {};
for i, root in ipairs(roots) do
	prefixes[i] = ("@"..root.."/"):gsub("//+", "/");
end

-- source name -> { [line] = times run }; false for a file outside the roots.
local counts = {};
-- function -> its file's table of counts, or false: one lookup per line instead of the
-- source name's (debug.getinfo's "f" costs half of "S").
local by_function = setmetatable({}, { __mode = "k" });

local function counts_for_source(source)
	local lines = counts[source];
	if lines == nil then
		lines = false;
		for _, prefix in ipairs(prefixes) do
			if source:sub(1, #prefix) == prefix then
				lines = {};
				break;
			end
		end
		if source:sub(1, 1) == "@" then -- code loaded from a string is never kept
			counts[source] = lines;
		end
	end
	return lines;
end

local function line_hook(_, line)
	local func = debug_getinfo(2, "f").func;
	local lines = by_function[func];
	if lines == nil then
		lines = counts_for_source(debug_getinfo(func, "S").source);
		by_function[func] = lines;
	end
	if lines then
		lines[line] = (lines[line] or 0) + 1;
	end
end

-- Threads that have the hook (a thread inherits none of a Lua hook function).
local hooked = setmetatable({}, { __mode = "k" });

local function hook_thread(thread)
	if not hooked[thread] then
		hooked[thread] = true;
		debug_sethook(thread, line_hook, "l");
	end
end

-- luacheck: push ignore 122 (the coroutine library's functions are replaced on purpose)
local function hooked_create(f)
	local thread = coroutine_create(f);
	hook_thread(thread);
	return thread;
end

local function hooked_resume(thread, ...)
	if type(thread) == "thread" then
		hook_thread(thread); -- one created before this module, or by C code
	end
	return coroutine_resume(thread, ...);
end

local function hooked_wrap(f)
	-- The thread behind a wrap is out of reach: it sets its own hook when it starts.
	return coroutine_wrap(function (...)
		debug_sethook(line_hook, "l");
		return f(...);
	end);
end

local function install()
	hook_thread(debug.getregistry()[1]); -- LUA_RIDX_MAINTHREAD: the main thread
	local running, is_main = coroutine.running();
	if not is_main then hook_thread(running); end
	coroutine.create, coroutine.resume, coroutine.wrap = hooked_create, hooked_resume, hooked_wrap;
end

local function uninstall()
	for thread in pairs(hooked) do
		debug_sethook(thread);
	end
	hooked = setmetatable({}, { __mode = "k" });
	coroutine.create, coroutine.resume, coroutine.wrap = coroutine_create, coroutine_resume, coroutine_wrap;
end
-- luacheck: pop

-- The counts file: a header line, then for each file its source name ("@path") on a line
-- of its own followed by "LINE COUNT" lines. Written beside, then renamed: a reader never
-- sees half a file.
local function write_counts()
	if not output then return; end
	local partial = output..".partial";
	local file, err = io_open(partial, "w");
	if not file then
		module:log("warn", "cannot write the coverage counts to %s: %s", partial, tostring(err));
		return;
	end
	file:write("prosody-harness coverage counts 1\n");
	for source, lines in pairs(counts) do
		if lines then
			file:write(source, "\n");
			for line, times in pairs(lines) do
				file:write(line, " ", times, "\n");
			end
		end
	end
	file:close();
	local ok, rename_err = os_rename(partial, output);
	if not ok then
		module:log("warn", "cannot write the coverage counts to %s: %s", output, tostring(rename_err));
		os_remove(partial);
	end
end

install();
if output then -- says the counts are due: a server that ends without them was killed
	local marker = io_open(output..".started", "w");
	if marker then marker:close(); end
end
module:log("debug", "counting lines run under %s", table.concat(roots, ", "));

module:hook("server-stopped", write_counts, -1000);
module:hook("harness-coverage-write", function ()
	write_counts();
	return true;
end);

function module.unload()
	write_counts();
	uninstall();
end
