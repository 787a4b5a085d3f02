"""A fresh lupa Lua 5.4 state set up the way `prosodyctl about` describes Prosody's own.

`require` and util.envload go through the process caches (harness.sandbox.caches): a
library already found is not searched for again, a chunk already compiled is loaded as
bytecode, so starting another sandbox skips the searching and the parser. Only code and
paths are shared this way, never state.
"""

from __future__ import annotations

import ctypes
import os

import lupa.lua54 as lupa

from harness.sandbox.caches import LUA_DIR, ProcessCaches
from harness.sandbox.prosody_source import LUA_CPATHS, LUA_PATHS

# Prosody's C libraries (util.encodings, lxp, ...) link against symbols of the Lua core
# in lupa's module; they resolve only once that module is in the global scope. Opening
# it again with RTLD_GLOBAL puts it there, whoever imported lupa first, and how.
ctypes.CDLL(lupa.__file__, mode=os.RTLD_NOW | os.RTLD_GLOBAL | os.RTLD_NOLOAD)

__all__ = ["LUA_DIR", "lupa", "new_runtime"]

# Runs first in every runtime: paths, the searchers and the bytecode cache.
PRELUDE = r"""
local source_dir, lua_path, lua_cpath, caches, find_lua, find_c = ...
-- The collector rests while the sandbox boots (boot.lua's start wakes it): the boot
-- keeps most of what it allocates, and collecting meanwhile costs a seventh of it.
collectgarbage("stop")
local chunk_get, chunk_put = caches.chunk, caches.remember_chunk
local file_put = caches.remember_file_code
package.path = source_dir.."/?.lua;"..lua_path
package.cpath = source_dir.."/?.so;"..lua_cpath

-- load() for source text, through the shared bytecode cache (keeps debug info for
-- tracebacks); it stands in for util.envload's envload.
-- (An explicit nil env would set _ENV to nil, hence the two forms of load.)
local function load_in(code, chunkname, mode, env)
	if env == nil then return load(code, chunkname, mode) end
	return load(code, chunkname, mode, env)
end
local function cached_load(text, chunkname, env)
	-- Only source files ("@path") are kept: data deserialised through envload is not code
	-- worth keeping, and would make the cache grow with every stored value.
	if type(chunkname) ~= "string" or chunkname:sub(1, 1) ~= "@" then
		return load_in(text, chunkname, nil, env)
	end
	local code = chunk_get(chunkname, text)
	if code then return load_in(code, chunkname, "b", env) end
	local f, err = load_in(text, chunkname, "t", env)
	if f then chunk_put(chunkname, text, string.dump(f)) end
	return f, err
end

local function read(path)
	local file = io.open(path, "rb")
	if not file then return nil end
	local text = file:read("a")
	file:close()
	return text
end

-- Lua files: Prosody's from package.path, the sandbox's as harness.sandbox.NAME. It
-- takes the place of Lua's own searcher for package.path, which would look again.
package.searchers[2] = function (name)
	local path, code = find_lua(name)
	if not path then return "\n\tno file for '"..name.."' on package.path" end
	if code then return assert(load(code, "@"..path, "b")), path end
	local text = read(path)
	if not text then return nil end
	local f, err = load(text, "@"..path, "t")
	if not f then error(err, 0) end
	file_put(path, string.dump(f))
	return f, path
end

-- C libraries: where Lua's two C searchers would find them (a.b in a/b.so, else in a.so),
-- remembered; versioned names (a-v2) are left to Lua's own searchers.
local search_c, search_croot = package.searchers[3], package.searchers[4]
package.searchers[3] = function (name)
	if name:find("-", 1, true) then return search_c(name) end
	local path, open = find_c(name)
	if not path then return "\n\tno C library for '"..name.."' on package.cpath" end
	return assert(package.loadlib(path, open)), path
end
package.searchers[4] = function (name)
	if name:find("-", 1, true) then return search_croot(name) end
	return nil
end

return cached_load
"""


def new_runtime(source_dir: str, caches: ProcessCaches):
    """(runtime, cached_load): a Lua state whose require finds Prosody's libraries."""
    runtime = lupa.LuaRuntime(encoding=None, unpack_returned_tuples=True)
    functions = caches.for_lua(source_dir)
    prelude = runtime.eval(f"function(...) {PRELUDE} end")
    cached_load = prelude(
        source_dir.encode(),
        ";".join(LUA_PATHS).encode(),
        ";".join(LUA_CPATHS).encode(),
        runtime.table_from({k.encode(): v for k, v in functions.items() if "." not in k}),
        functions["finder.lua"],
        functions["finder.c"],
    )
    return runtime, cached_load
