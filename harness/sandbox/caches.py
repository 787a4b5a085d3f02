"""What the sandboxes of one process share: values, never state.

Every sandbox is a new Lua state. What one may take from the sandboxes before it is only
what cannot differ between them:

* compiled code: the bytecode of a library file as it is now (checked against the file's
  stamp), or of a given source text (modules, the sandbox's own Lua);
* where `require` found each library (the installed libraries do not come and go while
  the process runs; a found file is still checked against its stamp), and what the
  plugin folders hold (listed again whenever a folder changes);
* each module's `--%` metadata, which depends only on its text;
* PBKDF2 results (a pure function) and the account record internal_hashed made for a
  password and iteration count (see boot.lua's create_user).

One `ProcessCaches` object owns all of them; `PROCESS_CACHES` is the one every sandbox
uses unless given another (a test can pass a fresh one). The bounded ones are emptied
when full: accounts created by module code have random salts.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from typing import Any

from harness.sandbox.prosody_source import LUA_CPATHS, LUA_PATHS

OWN_PREFIX = "harness.sandbox."  # the sandbox's own Lua: harness.sandbox.NAME
STAMP_CHECK_SECONDS = 1.0
Stamp = tuple[int, int]


def _stamp(path: bytes) -> Stamp | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


class ProcessCaches:
    MAX_REMEMBERED = 4096

    def __init__(self, lua_dir: str) -> None:
        self.lua_dir = lua_dir  # the sandbox's own Lua files (harness.sandbox.NAME)
        self._lock = threading.Lock()
        # By name, with the text they were compiled from (compared, not hashed: cheaper).
        self._chunks: dict[bytes, tuple[bytes, bytes]] = {}
        # By path: the file's stamp, its bytecode, and when the stamp was last checked.
        self._files: dict[bytes, tuple[Stamp, bytes, float]] = {}
        self._finders: dict[str, LibraryFinder] = {}
        self._metadata: dict[bytes, tuple[bytes, dict[bytes, bytes]]] = {}
        self._derived_keys: dict[bytes, bytes] = {}
        self._accounts: dict[tuple[bytes, bytes], dict[bytes, Any]] = {}
        self._for_lua: dict[str, dict[str, Any]] = {}
        self._listings: dict[bytes, tuple[int, frozenset[bytes], float]] = {}

    def for_lua(self, source_dir: str) -> dict[str, Any]:
        """The functions a runtime's prelude is given (lua_runtime.PRELUDE), made once and
        kept: lupa can mistake a fresh bound method for a dead one whose address it
        reuses."""
        with self._lock:
            functions = self._for_lua.get(source_dir)
        if functions is None:
            finder = self.finder(source_dir)
            functions = {
                "chunk": self.chunk,
                "remember_chunk": self.remember_chunk,
                "remember_file_code": self.remember_file_code,
                "finder.lua": finder.lua,
                "finder.c": finder.c,
            }
            with self._lock:
                functions = self._for_lua.setdefault(source_dir, functions)
        return functions

    # -- compiled code ----------------------------------------------------------------

    def chunk(self, chunkname: bytes, text: bytes) -> bytes | None:
        """Bytecode compiled from `text` under `chunkname`, if seen before."""
        cached = self._chunks.get(chunkname)
        return cached[1] if cached is not None and cached[0] == text else None

    def remember_chunk(self, chunkname: bytes, text: bytes, code: bytes) -> None:
        with self._lock:
            self._chunks[chunkname] = (text, code)

    def file_code(self, path: bytes) -> bytes | None:
        """Bytecode of a library file, if compiled from the file as it is now (its stamp
        is looked at again when last looked at over a second ago: libraries are read
        by every sandbox, and change only when someone edits or installs them)."""
        cached = self._files.get(path)
        if cached is None:
            return None
        stamp, code, checked = cached
        now = time.monotonic()
        if now - checked > STAMP_CHECK_SECONDS:
            if _stamp(path) != stamp:
                return None
            self._files[path] = (stamp, code, now)
        return code

    def remember_file_code(self, path: bytes, code: bytes) -> None:
        stamp = _stamp(path)
        if stamp:
            with self._lock:
                self._files[path] = (stamp, code, time.monotonic())

    def finder(self, source_dir: str) -> LibraryFinder:
        """Where `require` finds Lua and C libraries for Prosody sources in `source_dir`."""
        with self._lock:
            finder = self._finders.get(source_dir)
            if finder is None:
                finder = self._finders[source_dir] = LibraryFinder(self, source_dir)
            return finder

    def existing_files(self, prefixes: list[bytes], names: list[bytes]) -> list[bytes]:
        """Which of prefix + name exist, for each folder prefix (ending in "/") in turn
        and each name (a relative path) in turn: util.pluginloader's order. A folder's
        entries are listed once, and again when it changed (its mtime, looked at when last
        looked at over a second ago, or at once when nothing was found): a name whose
        first part is not there costs nothing, one in a subfolder a stat."""
        found = self._existing(prefixes, names, recheck=False)
        return found if found else self._existing(prefixes, names, recheck=True)

    def _existing(self, prefixes: list[bytes], names: list[bytes], recheck: bool) -> list[bytes]:
        found = []
        for prefix in prefixes:
            entries = self._entries(prefix, recheck)
            for name in names:
                first, sub, _rest = name.partition(b"/")
                if first in entries and (not sub or os.path.isfile(prefix + name)):
                    found.append(prefix + name)
        return found

    def _entries(self, folder: bytes, recheck: bool) -> frozenset[bytes]:
        now = time.monotonic()
        cached = self._listings.get(folder)
        if cached is not None and not recheck and now - cached[2] <= STAMP_CHECK_SECONDS:
            return cached[1]
        try:
            mtime = os.stat(folder).st_mtime_ns
        except OSError:
            return frozenset()
        if cached is not None and cached[0] == mtime:
            entries = cached[1]
        else:
            try:
                entries = frozenset(os.listdir(folder))
            except OSError:
                entries = frozenset()
        with self._lock:
            self._listings[folder] = (mtime, entries, now)
        return entries

    # -- values -----------------------------------------------------------------------

    def metadata(self, path: bytes, content: bytes) -> dict[bytes, bytes] | None:
        cached = self._metadata.get(path)
        return cached[1] if cached is not None and cached[0] == content else None

    def remember_metadata(self, path: bytes, content: bytes, found: dict[bytes, bytes]) -> None:
        with self._lock:
            self._metadata[path] = (content, found)

    def derived_key(self, key: bytes) -> bytes | None:
        return self._derived_keys.get(key)

    def remember_derived_key(self, key: bytes, derived: bytes) -> None:
        with self._lock:
            if len(self._derived_keys) >= self.MAX_REMEMBERED:
                self._derived_keys.clear()
            self._derived_keys[key] = derived

    def account_record(self, password: bytes, iterations: bytes) -> dict[bytes, Any] | None:
        return self._accounts.get((password, iterations))

    def remember_account_record(
        self, password: bytes, iterations: bytes, record: dict[bytes, Any]
    ) -> None:
        with self._lock:
            if len(self._accounts) >= self.MAX_REMEMBERED:
                self._accounts.clear()
            self._accounts[(password, iterations)] = record


class LibraryFinder:
    """Where `require` finds a library: a Lua file (the sandbox's own, or the first match
    on package.path) with its bytecode when compiled before, or a C library (the first
    match on package.cpath, and the name of its luaopen_ function). Lookups are
    remembered: the paths hold installed libraries, which do not come and go while the
    process runs."""

    def __init__(self, caches: ProcessCaches, source_dir: str) -> None:
        self._caches = caches
        self._lua_templates = [f"{source_dir}/?.lua", *LUA_PATHS]
        self._c_templates = [f"{source_dir}/?.so", *LUA_CPATHS]
        self._lua: dict[bytes, bytes | None] = {}
        self._c: dict[bytes, tuple[bytes, bytes] | None] = {}

    def lua(self, name: bytes) -> tuple[bytes, bytes | None] | None:
        """(path, bytecode or None) of Lua library `name`, or None."""
        try:
            path = self._lua[name]
        except KeyError:
            path = self._lua[name] = self._search_lua(name.decode())
        if path is None:
            return None
        return path, self._caches.file_code(path)

    def c(self, name: bytes) -> tuple[bytes, bytes] | None:
        """(path, luaopen function) of C library `name`, as Lua's own C searchers would
        find it (`a.b` in a/b.so, else in a.so as luaopen_a_b), or None."""
        try:
            return self._c[name]
        except KeyError:
            found = self._c[name] = self._search_c(name.decode())
            return found

    def _search_lua(self, name: str) -> bytes | None:
        if name.startswith(OWN_PREFIX):
            own = name.removeprefix(OWN_PREFIX).replace(".", "/")
            candidates = [f"{self._caches.lua_dir}/{own}.lua"]
        else:
            relative = name.replace(".", "/")
            candidates = [template.replace("?", relative) for template in self._lua_templates]
        for candidate in candidates:
            if os.path.isfile(candidate):
                return candidate.encode()
        return None

    def _search_c(self, name: str) -> tuple[bytes, bytes] | None:
        if "-" in name:
            return None  # versioned names: left to Lua's own searchers
        function = "luaopen_" + name.replace(".", "_")
        roots = [name, name.partition(".")[0]] if "." in name else [name]
        for root in roots:
            relative = root.replace(".", "/")
            for template in self._c_templates:
                candidate = template.replace("?", relative)
                if os.path.isfile(candidate):
                    _keep_loaded(candidate)
                    return candidate.encode(), function.encode()
        return None


_KEPT: dict[str, ctypes.CDLL] = {}


def _keep_loaded(path: str) -> None:
    """Hold the C library open for the process. A Lua state unloads the libraries it
    loaded when it closes: without a handle of our own every sandbox would map, relocate
    and bind them afresh (dlopen of a library already open only counts a reference)."""
    if path not in _KEPT:
        try:
            _KEPT[path] = ctypes.CDLL(path, mode=os.RTLD_NOW)
        except OSError:
            pass  # Lua's own loadlib says what is wrong with it


LUA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lua")
PROCESS_CACHES = ProcessCaches(LUA_DIR)


def _unlock_after_fork() -> None:
    """A forked worker (harness.runner.processes) keeps the caches' values, but not a
    lock some other thread of the parent may have held at the fork."""
    PROCESS_CACHES._lock = threading.Lock()


os.register_at_fork(after_in_child=_unlock_after_fork)
