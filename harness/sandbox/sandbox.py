"""The sandbox: Prosody's core running in a lupa Lua state, driven from Python.

One loop thread owns the Lua state. Everything that reaches Lua - API calls from tests,
socket events, timers, HTTP completions - is queued to that thread and runs there in
order, so Lua never sees two things at once and a completion never runs inside the call
that started it.

Time inside the sandbox is virtual. With `realtime=False` (the default for unit tests)
it stands still until `advance()` moves it, so timers fire exactly when a test says.
With `realtime=True` (what SandboxTarget uses, so that a scenario written against a
real server's timing gives the same verdict) it also runs along with the real clock,
and `advance()` jumps it ahead without sleeping.
"""

from __future__ import annotations

import http.client
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from harness.profile import Profile
from harness.prosody_config import (
    DEFAULT_GLOBAL_OPTIONS,
    HARNESS_OWNED_OPTIONS,
    host_modules,
)
from harness.sandbox import convert
from harness.sandbox.client import SandboxClient
from harness.sandbox.lua_runtime import LUA_DIR, new_runtime
from harness.sandbox.prosody_source import find_source_dir, version
from harness.sandbox.sockets import SocketHub, TlsSettings
from harness.target import HttpResponse, LogLine, TargetError

PROJECT_MODULES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "lua_modules"
)
SANDBOX_MODULES = os.path.join(LUA_DIR, "modules")
CALL_TIMEOUT = 10.0
# mod_posix would daemonise, write a pidfile and take over signals.
NOT_IN_SANDBOX = ("posix",)
SANDBOX_GLOBAL_OPTIONS: dict[str, Any] = {
    "default_storage": "memory",
    # Accounts are internal_hashed as on the real server (internal_plain differs: it
    # raises on unknown users), but with the fewest PBKDF2 rounds util.sasl accepts
    # without a warning: 10,000 rounds cost ~3 ms per account and per login.
    "default_iteration_count": 4096,
}


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
        realtime: bool = False,
    ) -> None:
        self.realtime = realtime
        self._clock_offset = time.time() - time.monotonic()
        self.profile = profile or Profile()
        self.source_dir = find_source_dir(prosody_source)
        self.version = version(self.source_dir)
        self.plugin_dirs = [
            *plugin_dirs,
            modules_dir or PROJECT_MODULES,
            SANDBOX_MODULES,
            os.path.join(self.source_dir, "modules"),
        ]
        self._lines: list[LogLine] = []
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._clients: dict[int, SandboxClient] = {}
        self._client_ids = iter(range(1, 1 << 62))
        self._hub: SocketHub | None = None
        self._data_dir: str | None = None
        self.http_port = 0
        self.lua = None  # the sandbox table of boot.lua, once started
        self._protect = None
        self._runtime = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        if self._thread:
            raise TargetError("the sandbox is already started")
        self._data_dir = tempfile.mkdtemp(prefix="prosody-sandbox-")
        self._hub = SocketHub(
            self._post,
            {
                "accept": "deliver_accept",
                "connected": "deliver_connected",
                "incoming": "deliver_incoming",
                "disconnect": "deliver_disconnect",
            },
        )
        self.http_port = self._hub.reserve_port()
        self._thread = threading.Thread(target=self._run, name="sandbox-loop", daemon=True)
        self._thread.start()
        try:
            self.call(self._boot)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if not self._thread:
            return
        if self.lua is not None:
            try:
                self.call(self._lua_call, self.lua.stop)
            except TargetError as exc:
                self._log_python("error", f"stopping the sandbox: {exc}")
        self._queue.put(None)
        self._thread.join(timeout=5.0)
        self._thread = None
        if self._hub:
            self._hub.shutdown()
        if self._data_dir:
            shutil.rmtree(self._data_dir, ignore_errors=True)
        # The Lua state holds the bridge, which holds this sandbox: break the cycle, so
        # the state is closed now, on this thread, rather than by some later garbage
        # collection on whichever thread happens to run it (with its open files).
        self.lua = None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the loop thread ----------------------------------------------------------------

    def _run(self) -> None:
        timeout = None
        while True:
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = ()  # woken by the clock: only timers are due
            if item is None:
                return
            self._sync_clock()
            future = outcome = failure = None
            if item:
                function, args, future = item
                try:
                    outcome = function(*args)
                except BaseException as exc:  # handed to the caller, never lost
                    failure = exc
                    if future is None:
                        self._log_python("error", f"sandbox event failed: {exc}")
            if self.lua is not None:
                self._run_due_timers()
            timeout = self._idle_timeout()
            # The caller resumes only now: it would otherwise wait for the loop's own
            # follow-up (timers, the next wake-up) before its next call gets the loop.
            if future is not None:
                if failure is not None:
                    future.set_exception(failure)
                else:
                    future.set_result(outcome)

    def _idle_timeout(self) -> float | None:
        """How long the loop may sleep: until the next timer when time runs by itself."""
        if not self.realtime or self.lua is None:
            return None
        due = self.lua.server.next_timer()
        if due is None:
            return 1.0
        return min(max(due - self._real_now(), 0.0), 1.0)

    def _real_now(self) -> float:
        return time.monotonic() + self._clock_offset

    def _sync_clock(self) -> None:
        if self.realtime and self.lua is not None:
            clock = self.lua.clock
            clock.now = max(clock.now, self._real_now())

    def call(self, function: Callable[..., Any], *args: Any, timeout: float = CALL_TIMEOUT):
        """Run `function(*args)` on the loop thread and return its result."""
        if threading.current_thread() is self._thread:
            return function(*args)
        if not self._thread:
            raise TargetError("the sandbox is not started")
        future: Future = Future()
        self._queue.put((function, args, future))
        try:
            return future.result(timeout)
        except FutureTimeout:
            raise TargetError(f"the sandbox did not answer within {timeout:g} s") from None

    def _post(self, lua_function: str, *args: Any) -> None:
        """Queue a call of the Lua net.server's deliver_* function (from any thread)."""
        self._queue.put((self._deliver, (lua_function, args), None))

    def _deliver(self, lua_function: str, args: tuple) -> None:
        if self.lua is not None:
            self._lua_call(self.lua.server[lua_function.encode()], *args)

    def _lua_call(self, function, *args):
        """Call Lua with a traceback handler; a Lua error becomes SandboxLuaError."""
        result = self._protect(function, *args)
        if not isinstance(result, tuple):
            result = (result,)
        if not result[0]:
            raise SandboxLuaError(convert.text(result[1]))
        return result[1] if len(result) == 2 else result[1:] or None

    def _run_due_timers(self) -> None:
        try:
            while self._lua_call(self.lua.server.run_due_timers):
                pass
        except SandboxLuaError as exc:
            self._log_python("error", str(exc))

    def _boot(self) -> None:
        runtime, cached_load = new_runtime(self.source_dir)
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
                "start_time": self._real_now(),
                "source_dir": self.source_dir,
                "data_dir": self._data_dir,
                "plugin_dirs": self.plugin_dirs,
                "version": self.version,
                "config": self._config(),
            },
        )
        self._bridge = _Bridge(self)
        self.lua = self._lua_call(boot, self._bridge.as_lua_table(runtime), settings)
        self._lua_call(self.lua.start)

    def _config(self) -> dict[str, Any]:
        profile = self.profile
        owned = sorted(set(profile.options) & HARNESS_OWNED_OPTIONS)
        for name, host in [*profile.hosts.items(), *profile.components.items()]:
            owned += [f"{o} (on {name})" for o in sorted(set(host.options) & HARNESS_OWNED_OPTIONS)]
        if owned:
            raise TargetError(
                f"{', '.join(owned)}: set by the harness (ports, paths and logging are chosen "
                "per run), not by a profile"
            )
        default_host = next(iter(profile.hosts), "localhost")
        global_options = {
            **{k: v for k, v in DEFAULT_GLOBAL_OPTIONS.items() if v is not None},
            **SANDBOX_GLOBAL_OPTIONS,
            "http_default_host": default_host,
            **profile.options,
            "http_interfaces": ["127.0.0.1"],
            "http_ports": [self.http_port],
            "https_ports": [],
            # Nothing else listens: clients and components are connected in process.
            "c2s_ports": [],
            "c2s_direct_tls_ports": [],
            "s2s_ports": [],
            "component_ports": [],
            "data_path": self._data_dir,
            "modules_disabled": [*profile.options.get("modules_disabled", []), *NOT_IN_SANDBOX],
        }
        hosts = {}
        for name, host in profile.hosts.items():
            enabled = [
                m
                for m in host_modules(host.modules_enabled, host.modules_disabled)
                if m not in NOT_IN_SANDBOX
            ]
            hosts[name] = {
                **host.options,
                "modules_enabled": enabled,
                "modules_disabled": [*host.modules_disabled, *NOT_IN_SANDBOX],
            }
        components = {}
        for name, component in profile.components.items():
            components[name] = {
                "module": component.module,
                "options": {
                    **component.options,
                    "modules_enabled": [
                        m for m in component.modules_enabled if m not in component.modules_disabled
                    ],
                    "modules_disabled": [*component.modules_disabled, *NOT_IN_SANDBOX],
                },
            }
        return {"global": global_options, "hosts": hosts, "components": components}

    # -- logging --------------------------------------------------------------------------

    def _log_python(self, level: str, message: str) -> None:
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
            return convert.from_lua(self._lua_call(chunk, *lua_args))

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
            result = self._lua_call(modulemanager.load, host.encode(), name.encode())
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
            return convert.from_lua(self._lua_call(events.fire_event, name.encode(), payload))

        return self.call(run)

    def create_user(self, username: str, host: str, password: str) -> None:
        def run():
            result = self._lua_call(
                self.lua.create_user, username.encode(), password.encode(), host.encode()
            )
            ok, err = _pair(result)
            if not ok:
                raise TargetError(f"cannot create {username}@{host}: {convert.text(err)}")

        self.call(run)

    def connect(self, jid: str, password: str, resource: str | None = None) -> SandboxClient:
        bare, _, jid_resource = jid.partition("/")
        username, at, host = bare.rpartition("@")
        if not at or not username:
            raise TargetError(f"{jid!r} is not a user JID (user@host)")
        resource = resource or jid_resource or None
        client_id = next(self._client_ids)
        client = SandboxClient(self, client_id)
        self._clients[client_id] = client

        def run():
            login = self.lua.c2s_login[host.encode()]
            if login is None:
                raise TargetError(f"{host} is not a virtual host of this sandbox")
            result = self._lua_call(
                login,
                client_id,
                username.encode(),
                password.encode(),
                resource.encode() if resource else None,
            )
            full_jid, err = _pair(result)
            if not full_jid:
                raise TargetError(f"{bare} could not log in: {convert.text(err)}")
            return convert.text(full_jid)

        try:
            client.jid = self.call(run)
        except BaseException:
            self._clients.pop(client_id, None)
            raise
        return client

    def client_send(self, client_id: int, xml: str) -> None:
        def run():
            session = self.lua.c2s_sessions[client_id]
            if session is None:
                raise TargetError("the client's session is closed")
            self._lua_call(session.data, xml.encode())

        self.call(run)

    def client_close(self, client_id: int) -> None:
        def run():
            session = self.lua.c2s_sessions[client_id]
            if session is not None:
                self._lua_call(session.close, session, False)

        self.call(run)
        self._clients.pop(client_id, None)

    def post_client_send(self, client_id: int, xml: str) -> None:
        """Send later, from the loop (a client's automatic answers)."""
        self._queue.put((self._send_if_open, (client_id, xml), None))

    def _send_if_open(self, client_id: int, xml: str) -> None:
        session = self.lua.c2s_sessions[client_id]
        if session is not None:
            self._lua_call(session.data, xml.encode())

    def now(self) -> float:
        return self.call(lambda: self.lua.clock.now)

    def advance(self, seconds: float, settle: float = 2.0) -> None:
        """Move the virtual clock `seconds` ahead, firing timers in order; between timers,
        let outgoing connections (net.http) finish, waiting at most `settle` real seconds."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        target = self.call(lambda: self.lua.clock.now) + seconds
        while True:
            self._settle(settle)
            fired = self.call(self._step_clock, target)
            if not fired:
                break
        self._clock_offset += seconds  # real time carries on from the new virtual time
        self._settle(settle)

    def _step_clock(self, target: float) -> bool:
        """Move to the next timer due by `target` (or to `target`); True if one fired."""
        due = self.lua.server.next_timer()
        clock = self.lua.clock
        if due is not None and due <= target:
            clock.now = max(clock.now, due)
            self._run_due_timers()
            return True
        clock.now = max(clock.now, target)
        self._run_due_timers()
        return False

    def _settle(self, bound: float) -> None:
        deadline = time.monotonic() + bound
        while self._hub and self._hub.busy() and time.monotonic() < deadline:
            time.sleep(0.001)
        self.call(lambda: None)  # let what arrived be processed

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
        """A real HTTP request to the sandbox's HTTP server (Prosody's mod_http)."""
        if not path.startswith("/"):
            raise TargetError(f"HTTP path {path!r} must start with '/'")
        connection = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise TargetError(f"HTTP {method} {path} to the sandbox failed: {exc}") from exc
        finally:
            connection.close()
        return HttpResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, data)


# Module metadata ("--% key: value" lines) by (path, source text), for every sandbox.
_MODULE_METADATA: dict[tuple[bytes, bytes], dict[bytes, bytes]] = {}
# PBKDF2 results by (hash, password, salt, iterations), and internal_hashed account
# records by (password, iterations): values, shared by every sandbox of the process.
_DERIVED_KEYS: dict[bytes, bytes] = {}
_ACCOUNT_RECORDS: dict[tuple[bytes, bytes], dict[bytes, Any]] = {}
MAX_REMEMBERED = 4096
TLS_CHECKS = ("verify_chain", "verify_name", "common_name_counts")


class _Bridge:
    """What Lua may ask of Python (bytes in, bytes out)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self.log = sandbox._on_log

    FUNCTIONS = (
        "log",
        "metadata_get",
        "metadata_put",
        "derived_key",
        "remember_derived_key",
        "account_record",
        "remember_account_record",
        "listen",
        "connect",
        "sock_write",
        "sock_close",
        "c2s_output",
        "c2s_closed",
        "shutdown_requested",
    )

    def as_lua_table(self, runtime):
        """The functions Lua may call, each one Python object held for the sandbox's life:
        lupa can mistake a fresh bound method for a dead one whose address it reuses."""
        self._functions = [getattr(self, name) for name in self.FUNCTIONS]
        table = runtime.table()
        for name, function in zip(self.FUNCTIONS, self._functions, strict=True):
            table[name.encode()] = function
        return table

    def _fresh_table(self, found: dict | None):
        """A new Lua table copying a remembered dict (never shared between sandboxes)."""
        if found is None:
            return None
        table = self._sandbox._runtime.table()
        for key, value in found.items():
            table[key] = value
        return table

    def metadata_get(self, path: bytes, content: bytes):
        return self._fresh_table(_MODULE_METADATA.get((path, content)))

    def metadata_put(self, path: bytes, content: bytes, metadata) -> None:
        _MODULE_METADATA[(path, content)] = dict(metadata.items())

    def derived_key(self, key: bytes) -> bytes | None:
        return _DERIVED_KEYS.get(key)

    def remember_derived_key(self, key: bytes, derived: bytes) -> None:
        if len(_DERIVED_KEYS) >= MAX_REMEMBERED:
            _DERIVED_KEYS.clear()  # accounts made by module code have random salts
        _DERIVED_KEYS[key] = derived

    def account_record(self, password: bytes, iterations: bytes):
        """A fresh Lua table holding the remembered account record, or None."""
        return self._fresh_table(_ACCOUNT_RECORDS.get((password, iterations)))

    def remember_account_record(self, password: bytes, iterations: bytes, record) -> None:
        if len(_ACCOUNT_RECORDS) >= MAX_REMEMBERED:
            _ACCOUNT_RECORDS.clear()
        _ACCOUNT_RECORDS[(password, iterations)] = dict(record.items())

    def listen(self, interface: bytes, port: int):
        """A server id, or (nil, reason) as net.server's listen answers."""
        try:
            return self._sandbox._hub.listen(convert.text(interface), int(port))
        except OSError as exc:
            return None, str(exc).encode()

    def connect(self, host: bytes, port, tls):
        """An outgoing connection; `tls` is nil (plain) or the checks Prosody would make
        (see net_server.lua's addclient and TlsSettings)."""
        settings = None
        if tls is not None:
            names = {k: tls[k.encode()] for k in ("servername", "cafile", "capath")}
            checks = {k: bool(tls[k.encode()]) for k in TLS_CHECKS}
            settings = TlsSettings(
                **{k: convert.text(v) if v else None for k, v in names.items()}, **checks
            )
        return self._sandbox._hub.connect(convert.text(host), int(port), settings)

    def sock_write(self, conn_id: int, data: bytes) -> None:
        self._sandbox._hub.write(conn_id, data)

    def sock_close(self, conn_id: int) -> None:
        self._sandbox._hub.close(conn_id)

    def c2s_output(self, client_id: int, data: bytes) -> None:
        client = self._sandbox._clients.get(client_id)
        if client is not None:
            client.deliver(data)

    def c2s_closed(self, client_id: int) -> None:
        client = self._sandbox._clients.pop(client_id, None)
        if client is not None:
            client.mark_closed()

    def shutdown_requested(self, reason: bytes) -> None:
        self._sandbox._log_python("info", f"prosody.shutdown() called: {convert.text(reason)}")
