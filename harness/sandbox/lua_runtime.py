"""A fresh lupa Lua 5.4 state set up the way `prosodyctl about` describes Prosody's own.

Compiled chunks (Prosody's libraries, modules, the sandbox's Lua) are cached as bytecode
across runtimes, keyed by file path and text, so starting another sandbox skips the
parser. Only code is shared this way, never state.
"""

from __future__ import annotations

import os
import sys
import threading
from importlib import resources

from harness.sandbox.prosody_source import LUA_CPATHS, LUA_PATHS

# Prosody's C libraries (util.encodings, lxp, ...) link against symbols of the Lua core
# that lupa loaded; they resolve only if lupa's library is loaded RTLD_GLOBAL.
if "lupa" not in sys.modules:
    _flags = sys.getdlopenflags()
    sys.setdlopenflags(os.RTLD_NOW | os.RTLD_GLOBAL)
    import lupa.lua54 as lupa  # noqa: E402

    sys.setdlopenflags(_flags)
else:
    import lupa.lua54 as lupa  # noqa: E402

LUA_DIR = str(resources.files("harness.sandbox") / "lua")

_BYTECODE: dict[tuple[bytes, bytes], bytes] = {}
_BYTECODE_LOCK = threading.Lock()

# Runs first in every runtime: paths, the bytecode cache and the sandbox's own modules.
PRELUDE = r"""
local source_dir, lua_path, lua_cpath, cache_get, cache_put, find_library, file_put = ...
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
	local code = cache_get(chunkname, text)
	if code then return load_in(code, chunkname, "b", env) end
	local f, err = load_in(text, chunkname, "t", env)
	if f then cache_put(chunkname, text, string.dump(f)) end
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
	local path, code = find_library(name)
	if not path then return nil end
	if code then return assert(load(code, "@"..path, "b")), path end
	local text = read(path)
	if not text then return nil end
	local f, err = load(text, "@"..path, "t")
	if not f then error(err, 0) end
	file_put(path, string.dump(f))
	return f, path
end

return cached_load
"""


def _cache_get(chunkname: bytes, text: bytes) -> bytes | None:
    return _BYTECODE.get((chunkname, text))


def _cache_put(chunkname: bytes, text: bytes, code: bytes) -> None:
    with _BYTECODE_LOCK:
        _BYTECODE[(chunkname, text)] = code


_FILE_BYTECODE: dict[bytes, tuple[tuple[int, int], bytes]] = {}


def _stamp(path: bytes) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def _file_get(path: bytes) -> bytes | None:
    """Bytecode for a library file, if compiled from the file as it is now."""
    cached = _FILE_BYTECODE.get(path)
    if cached and cached[0] == _stamp(path):
        return cached[1]
    return None


class _LibraryFinder:
    """Where `require` finds a Lua file: the sandbox's own (harness.sandbox.NAME) or the
    first match on package.path. Lookups are remembered for the process: the path holds
    installed libraries, which do not come and go while it runs (a found file is still
    checked against its stamp before its bytecode is used)."""

    def __init__(self, templates: list[str]) -> None:
        self._templates = templates
        self._paths: dict[bytes, bytes | None] = {}

    def __call__(self, name: bytes) -> tuple[bytes, bytes | None] | None:
        try:
            path = self._paths[name]
        except KeyError:
            path = self._paths[name] = self._search(name.decode())
        if path is None:
            return None
        return path, _file_get(path)

    def _search(self, name: str) -> bytes | None:
        if name.startswith(OWN_PREFIX):
            own = name.removeprefix(OWN_PREFIX).replace(".", "/")
            candidates = [f"{LUA_DIR}/{own}.lua"]
        else:
            relative = name.replace(".", "/")
            candidates = [template.replace("?", relative) for template in self._templates]
        for candidate in candidates:
            if os.path.isfile(candidate):
                return candidate.encode()
        return None


OWN_PREFIX = "harness.sandbox."
_FINDERS: dict[str, _LibraryFinder] = {}


def _file_put(path: bytes, code: bytes) -> None:
    stamp = _stamp(path)
    if stamp:
        with _BYTECODE_LOCK:
            _FILE_BYTECODE[path] = (stamp, code)


def new_runtime(source_dir: str):
    """(runtime, cached_load): a Lua state whose require finds Prosody's libraries."""
    finder = _FINDERS.get(source_dir)
    if finder is None:
        finder = _FINDERS[source_dir] = _LibraryFinder([f"{source_dir}/?.lua", *LUA_PATHS])
    runtime = lupa.LuaRuntime(encoding=None, unpack_returned_tuples=True)
    prelude = runtime.eval(f"function(...) {PRELUDE} end")
    cached_load = prelude(
        source_dir.encode(),
        ";".join(LUA_PATHS).encode(),
        ";".join(LUA_CPATHS).encode(),
        _cache_get,
        _cache_put,
        finder,
        _file_put,
    )
    return runtime, cached_load
