"""What the sandbox's Lua may ask of Python: logging, the process caches, sockets and
client output. Lua calls these functions (bytes in, bytes out) on whichever thread holds
the Lua state (harness.sandbox.loop), so none of them may wait for the loop."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.sandbox import convert
from harness.sandbox.caches import ProcessCaches
from harness.sandbox.sockets import SocketHub
from harness.sandbox.tls_client import TlsSettings

if TYPE_CHECKING:
    from harness.sandbox.client import Sessions

TLS_CHECKS = ("verify_chain", "verify_name", "common_name_counts")


class Bridge:
    """The functions boot.lua gets as `bridge`, over the collaborators it names."""

    FUNCTIONS = (
        "log",
        "plugin_files",
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

    def __init__(
        self,
        runtime,
        caches: ProcessCaches,
        hub: SocketHub,
        sessions: Sessions,
        log: Callable[[bytes, bytes, bytes], None],
        note: Callable[[str, str], None],
        plugin_dirs: list[str],
    ) -> None:
        """`log(source, level, message)` takes Prosody's log lines, `note(level, message)`
        the sandbox's own; `sessions` keeps the sandbox's client sessions;
        `plugin_dirs` are the folders CFG_PLUGINDIR names, in order."""
        # As util.pluginloader spells them: one "/" at the end, none doubled.
        self._plugin_prefixes = [
            re.sub(rb"/+", b"/", (d.replace("\\", "/") + "/").encode()) for d in plugin_dirs
        ]
        self._runtime = runtime
        self._caches = caches
        self._hub = hub
        self._sessions = sessions
        self.log = log
        self._note = note

    def as_lua_table(self):
        """The functions Lua may call, each one Python object held for the sandbox's life:
        lupa can mistake a fresh bound method for a dead one whose address it reuses."""
        self._functions = {name: getattr(self, name) for name in self.FUNCTIONS}
        return self._runtime.table_from({k.encode(): v for k, v in self._functions.items()})

    def close(self) -> None:
        """Let go of the Lua state. The state holds these functions, and they hold this
        bridge: without this the state (megabytes) would wait for Python's cycle
        collector, which then closes a batch of them at once, in some later call."""
        self._runtime = self._functions = None

    def _fresh_table(self, found: dict | None):
        """A new Lua table copying a remembered dict (never shared between sandboxes)."""
        return None if found is None else self._runtime.table_from(found)

    # -- process caches -------------------------------------------------------------

    def plugin_files(self, names):
        """The plugin folders' files among `names` (a Lua array of relative paths), in
        util.pluginloader's order (see boot.lua)."""
        found = self._caches.existing_files(self._plugin_prefixes, list(names.values()))
        return self._runtime.table_from(found)

    def metadata_get(self, path: bytes, content: bytes):
        return self._fresh_table(self._caches.metadata(path, content))

    def metadata_put(self, path: bytes, content: bytes, metadata) -> None:
        self._caches.remember_metadata(path, content, dict(metadata.items()))

    def derived_key(self, key: bytes) -> bytes | None:
        return self._caches.derived_key(key)

    def remember_derived_key(self, key: bytes, derived: bytes) -> None:
        self._caches.remember_derived_key(key, derived)

    def account_record(self, password: bytes, iterations: bytes):
        """A fresh Lua table holding the remembered account record, or None."""
        return self._fresh_table(self._caches.account_record(password, iterations))

    def remember_account_record(self, password: bytes, iterations: bytes, record) -> None:
        self._caches.remember_account_record(password, iterations, dict(record.items()))

    # -- sockets --------------------------------------------------------------------

    def listen(self, interface: bytes, port: int) -> Any:
        """A server id, or (nil, reason) as net.server's listen answers."""
        try:
            return self._hub.listen(convert.text(interface), int(port))
        except OSError as exc:
            return None, str(exc).encode()

    def connect(self, host: bytes, port, tls) -> int:
        """An outgoing connection; `tls` is nil (plain) or the checks Prosody would make
        (see net_server.lua's addclient and TlsSettings)."""
        settings = None
        if tls is not None:
            names = {k: tls[k.encode()] for k in ("servername", "cafile", "capath")}
            checks = {k: bool(tls[k.encode()]) for k in TLS_CHECKS}
            settings = TlsSettings(
                **{k: convert.text(v) if v else None for k, v in names.items()}, **checks
            )
        return self._hub.connect(convert.text(host), int(port), settings)

    def sock_write(self, conn_id: int, data: bytes) -> None:
        self._hub.write(conn_id, data)

    def sock_close(self, conn_id: int) -> None:
        self._hub.close(conn_id)

    # -- client sessions and the process ----------------------------------------------

    def c2s_output(self, client_id: int, data: bytes) -> None:
        self._sessions.output(client_id, data)

    def c2s_closed(self, client_id: int) -> None:
        self._sessions.ended(client_id)

    def shutdown_requested(self, reason: bytes) -> None:
        self._note("info", f"prosody.shutdown() called: {convert.text(reason)}")
