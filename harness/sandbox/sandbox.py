"""The sandbox: Prosody's core running in a lupa Lua state, driven from Python.

This is the API tests use. The rest has a file each: who may use the Lua state when, and
the virtual clock (loop.py), what Lua asks of Python (bridge.py), the profile's
configuration (config.py), the real sockets (sockets.py), mock backends' waits on the
clock (parking.py), the harness's HTTP requests (http_client.py), Prosody's core brought
up in Lua (lua/boot.lua).

Over 400 lines on purpose: it is the one class tests drive the sandbox through, and each
of its methods is a few lines handing over to one of those files.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from harness.profile import Profile
from harness.prosody_config import ResolvedConfig
from harness.sandbox import convert, data_dirs
from harness.sandbox.bridge import Bridge
from harness.sandbox.caches import PROCESS_CACHES, ProcessCaches
from harness.sandbox.client import SandboxClient, Sessions
from harness.sandbox.config import boot_config, sandbox_config
from harness.sandbox.http_client import exchange
from harness.sandbox.loop import Loop, VirtualClock
from harness.sandbox.lua_runtime import LUA_DIR, new_runtime
from harness.sandbox.parking import ParkingLot
from harness.sandbox.prosody_source import find_source_dir, version
from harness.sandbox.sockets import SocketHub
from harness.target import PROJECT_MODULES, HttpResponse, LogLine, TargetError

SANDBOX_MODULES = os.path.join(LUA_DIR, "modules")
# The net.server functions (lua/net_server.lua) each socket event is handed to.
SOCKET_EVENTS = {
    "accept": "deliver_accept",
    "connected": "deliver_connected",
    "incoming": "deliver_incoming",
    "disconnect": "deliver_disconnect",
}
T = TypeVar("T")


class SandboxLuaError(TargetError):
    """Lua code raised an error; the message carries Lua's traceback (file:line)."""


def _pair(result: Any) -> tuple[Any, Any]:
    """The first two of a Lua call's results (lupa returns one value bare)."""
    if isinstance(result, tuple):
        return (result + (None, None))[:2]
    return result, None


class Sandbox:
    """Prosody's core in process: load modules, connect clients, fire events, make
    HTTP requests, advance the virtual clock, read the log."""

    def __init__(
        self,
        profile: Profile | None = None,
        modules_dir: str | None = None,
        prosody_source: str | None = None,
        plugin_dirs: Iterable[str] = (),
        # Lua files run after the boot, before the start, each given its settings (as a
        # real config's RunScript runs them); harness.coverage loads its module so.
        run_scripts: Iterable[tuple[str, dict[str, Any]]] = (),
        realtime: bool = False,
        caches: ProcessCaches | None = None,
    ) -> None:
        self.realtime = realtime
        self.clock = VirtualClock(realtime)
        # Where mock backends of this process hold requests on the clock (parking.py).
        self.parking = ParkingLot(self.clock, self._replan)
        self.profile = profile or Profile()
        self.source_dir = find_source_dir(prosody_source)
        self.version = version(self.source_dir)
        self.run_scripts = list(run_scripts)
        self.plugin_dirs = [
            *plugin_dirs,
            modules_dir or str(PROJECT_MODULES),
            SANDBOX_MODULES,
            os.path.join(self.source_dir, "modules"),
        ]
        self._caches = caches or PROCESS_CACHES
        self._lines: list[LogLine] = []
        self._loop: Loop | None = None
        self._sessions = Sessions(self)
        self._hub: SocketHub | None = None
        self._data_dir: str | None = None
        self.http_port = 0
        self.lua = None  # the sandbox table of boot.lua, once started
        self._runtime = None
        self._protect = None
        self._lua_clock = None
        self._tick = None
        self._bridge: Bridge | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        if self._loop is not None:
            raise TargetError("the sandbox is already started")
        # An invalid profile: before anything exists.
        config = sandbox_config(self.profile, self.source_dir)
        self._data_dir = data_dirs.take()
        self._hub = SocketHub(self._socket_event, SOCKET_EVENTS)
        self.http_port = self._hub.reserve_port()
        self._loop = Loop(self.clock)
        self._loop.start(self)
        try:
            self._loop.run(self._boot, config)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if self.lua is not None:
            try:
                loop.run(self.lua_call, self.lua.stop)
            except TargetError as exc:
                self.note("error", f"stopping the sandbox: {exc}")
        loop.close()
        if self._hub:
            self._hub.shutdown()
        if self._data_dir:
            data_dirs.give_back(self._data_dir)
            self._data_dir = None
        # The Lua state holds the bridge, which holds this sandbox's parts: let go of it
        # now, so it is closed here, on this thread, rather than by some later garbage
        # collection on whichever thread happens to run it (with its open files).
        if self._bridge is not None:
            self._bridge.close()
        self.lua = self._runtime = self._protect = self._lua_clock = self._tick = None
        self._bridge = None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run `function(*args)` with the Lua state to itself (see loop.py)."""
        if self._loop is None:
            raise TargetError("the sandbox is not started")
        return self._loop.run(function, *args)

    def later(self, function: Callable[..., object], *args: Any) -> None:
        """Run `function(*args)` with the state held, after what runs now (any thread)."""
        if self._loop is not None:
            self._loop.post(function, *args)

    def _boot(self, config: ResolvedConfig) -> None:
        runtime, cached_load = new_runtime(self.source_dir, self._caches)
        self._runtime = runtime
        self._protect = runtime.eval(
            "function(f, ...) return xpcall(f, function (e)"
            " return debug.traceback(tostring(e), 2) end, ...) end"
        )
        # Modules are compiled through util.envload: give it the bytecode cache.
        _pair(runtime.globals().require(b"util.envload"))[0][b"envload"] = cached_load
        boot_path = os.path.join(LUA_DIR, "boot.lua")
        with open(boot_path, "rb") as file:
            boot, err = _pair(cached_load(file.read(), b"@" + boot_path.encode()))
        if boot is None:
            raise SandboxLuaError(convert.text(err))
        settings = convert.to_lua(
            runtime,
            {
                "start_time": self.clock.now(),
                "source_dir": self.source_dir,
                "data_dir": self._data_dir,
                "plugin_dirs": self.plugin_dirs,
                "version": self.version,
                "config": boot_config(config, self.http_port, self._data_dir),
            },
        )
        self._bridge = Bridge(
            runtime,
            self._caches,
            self._hub,
            self._sessions,
            self._on_log,
            self.note,
            self.plugin_dirs,
        )
        lua = self.lua_call(boot, self._bridge.as_lua_table(), settings)
        self._lua_clock, self._tick = lua.clock, lua.server.tick
        self.lua = lua
        for path, script_settings in self.run_scripts:
            script, err = _pair(runtime.globals().loadfile(path.encode()))
            if script is None:
                raise SandboxLuaError(convert.text(err))
            self.lua_call(script, convert.to_lua(runtime, script_settings))
        self.lua_call(lua.start)

    def lua_call(self, function, *args):
        """Call Lua with a traceback handler; a Lua error becomes SandboxLuaError."""
        result = self._protect(function, *args)
        if not isinstance(result, tuple):
            result = (result,)
        if not result[0]:
            raise SandboxLuaError(convert.text(result[1]))
        return result[1] if len(result) == 2 else result[1:] or None

    # -- what the loop asks (loop.LoopHooks), with the state held -----------------------

    def publish_clock(self, now: float) -> None:
        if self._lua_clock is not None:
            self._lua_clock.now = now

    def run_due_timers(self, now: float) -> float | None:
        if self._tick is None:
            return None
        try:
            return self.lua_call(self._tick, now)
        except SandboxLuaError as exc:
            self.note("error", str(exc))
            return self.lua_call(self.lua.server.next_timer)

    def busy(self) -> bool:
        """Whether something may still arrive from outside (a connection under way)."""
        return self.quiet_until() != math.inf

    def quiet_until(self) -> float | None:
        if self._hub is None:
            return math.inf
        connections = self._hub.waiting_connections()
        if connections is None:
            return None
        return self.parking.earliest_end(connections) if connections else math.inf

    def clock_jumped(self) -> None:
        self.parking.clock_moved()

    def _replan(self) -> None:
        loop = self._loop
        if loop is not None:
            loop.poke()

    def report(self, message: str) -> None:
        self.note("error", message)

    def _socket_event(self, lua_function: str, *args: Any) -> None:
        """A socket event, from the socket threads: for net.server's deliver_* functions."""
        if self._loop is not None:
            self._loop.post(self._deliver, lua_function, args)

    def _deliver(self, lua_function: str, args: tuple) -> None:
        if self.lua is not None:
            self.lua_call(self.lua.server[lua_function.encode()], *args)

    # -- the log ------------------------------------------------------------------------

    def note(self, level: str, message: str) -> None:
        """A line of the sandbox's own in the log."""
        self._lines.append(LogLine(level, "sandbox", message, f"sandbox\t{level}\t{message}"))

    def _on_log(self, source: bytes, level: bytes, message: bytes) -> None:
        src, lvl, msg = convert.text(source), convert.text(level), convert.text(message)
        self._lines.append(LogLine(lvl, src, msg, f"{src}\t{lvl}\t{msg}"))

    def log(self) -> list[LogLine]:
        return list(self._lines)

    # -- the Python API for tests --------------------------------------------------------

    def lua_eval(self, code: str, *args: Any) -> Any:
        """Run a Lua chunk inside the sandbox (`...` are the args) and return its result."""

        def run():
            chunk, err = _pair(self._runtime.globals().load(code.encode(), b"=sandbox-test"))
            if chunk is None:
                raise SandboxLuaError(convert.text(err))
            lua_args = [convert.to_lua(self._runtime, a) for a in args]
            return convert.from_lua(self.lua_call(chunk, *lua_args))

        return self.call(run)

    def load_module(
        self, name: str, options: dict[str, Any] | None = None, host: str | None = None
    ) -> None:
        """Set `options` on `host` (default: the first virtual host), then load mod_`name`."""
        host = host or next(iter(self.profile.hosts))

        def run():
            config = self._require(b"core.configmanager")
            for key, value in (options or {}).items():
                config.set(host.encode(), key.encode(), convert.to_lua(self._runtime, value))
            modulemanager = self._require(b"core.modulemanager")
            result = self.lua_call(modulemanager.load, host.encode(), name.encode())
            mod, err = _pair(result)
            if not mod:
                detail = self._last_error_line() or convert.text(err)
                raise TargetError(f"mod_{name} did not load on {host}: {detail}")

        self.call(run)

    def _last_error_line(self) -> str | None:
        for line in reversed(self._lines):
            if line.level == "error":
                return line.message
        return None

    def _require(self, name: bytes):
        return _pair(self._runtime.globals().require(name))[0]

    def fire_event(
        self, name: str, data: dict[str, Any] | None = None, host: str | None = None
    ) -> Any:
        """Fire an event on a host (or globally with host='*'); returns the handlers' result."""

        def run():
            prosody = self._runtime.globals().prosody
            target = host or next(iter(self.profile.hosts))
            events = prosody.events if target == "*" else prosody.hosts[target.encode()].events
            if events is None:
                raise TargetError(f"no host {target!r} in the sandbox")
            payload = convert.to_lua(self._runtime, data or {})
            return convert.from_lua(self.lua_call(events.fire_event, name.encode(), payload))

        return self.call(run)

    def create_user(self, username: str, host: str, password: str) -> None:
        def run():
            result = self.lua_call(
                self.lua.create_user, username.encode(), password.encode(), host.encode()
            )
            ok, err = _pair(result)
            if not ok:
                raise TargetError(f"cannot create {username}@{host}: {convert.text(err)}")

        self.call(run)

    def connect(self, jid: str, password: str, resource: str | None = None) -> SandboxClient:
        """Log a client in (as mod_saslauth and mod_c2s would) and return it."""
        return self._sessions.connect(jid, password, resource)

    # -- time ---------------------------------------------------------------------------

    def now(self) -> float:
        """The virtual clock, in seconds since the epoch."""
        return self.clock.now()

    def wait_for(
        self, ready: Callable[[], T | None], seconds: float, recheck: float | None = None
    ) -> T | None:
        """`ready()`'s first answer that is not None, or None after `seconds` (virtual
        seconds when the clock runs, see loop.Loop.wait_for)."""
        if self._loop is None:
            raise TargetError("the sandbox is not started")
        return self._loop.wait_for(ready, seconds, recheck)

    def advance(self, seconds: float, settle: float = 2.0) -> None:
        """Move the virtual clock `seconds` ahead, firing timers in order.

        On a still clock (realtime=False), between timers outgoing connections (net.http)
        are let finish, waiting at most `settle` real seconds: they take no virtual time.
        On a running clock this is a wait of `seconds`: it jumps over what only timers
        can change, and keeps pace with real time while a connection is under way."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        if self.realtime:
            self.wait_for(lambda: None, seconds)
            return
        target = self.clock.now() + seconds
        while True:
            self._settle(settle)
            if not self.call(self._step_clock, target):
                break
        self._settle(settle)

    def _step_clock(self, target: float) -> bool:
        """Move to the next timer due by `target` (or to `target`); True if one fired."""
        due = self.lua_call(self.lua.server.next_timer)
        fired = due is not None and due <= target
        self.clock.jump(due if fired else target)
        self.run_due_timers(self.clock.now())
        return fired

    def _settle(self, bound: float) -> None:
        deadline = time.monotonic() + bound
        while self.busy() and time.monotonic() < deadline:
            time.sleep(0.001)
        self.call(lambda: None)  # let what arrived be processed

    # -- HTTP ---------------------------------------------------------------------------

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def http(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 10.0,
    ) -> HttpResponse:
        """An HTTP request to the sandbox's HTTP server (Prosody's mod_http), handed to
        it in process and its answer waited for on the clock (http_client.py)."""
        if self._hub is None:
            raise TargetError("the sandbox is not started")

        def deliver(event: str, *args: Any) -> None:
            self.call(self._deliver, SOCKET_EVENTS[event], args)

        return exchange(
            self._hub, deliver, self.wait_for, self.http_port, method, path, headers, body, timeout
        )
