"""Spare sandboxes: while one scenario runs, the next sandbox for the same profile boots
in the background, so a run of scenarios does not wait for Prosody's core to load.

A spare is a sandbox that was started and never used - the same fresh state a
scenario would get from starting one itself. It is keyed by everything that shapes a
sandbox (profile, module directory, Prosody sources, module files' mtimes) and dropped
when any of it differs. Set PROSODY_HARNESS_SANDBOX_SPARES=0 to turn spares off.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future

from harness.sandbox.sandbox import Sandbox

ENV_VAR = "PROSODY_HARNESS_SANDBOX_SPARES"
TAKE_TIMEOUT = 10.0


def enabled() -> bool:
    return os.environ.get(ENV_VAR, "1") not in ("0", "false", "no", "")


def _tree_stamp(directory: str | None) -> int:
    """The newest mtime under a directory, so an edited module invalidates its spare."""
    newest = 0
    if directory and os.path.isdir(directory):
        for root, _dirs, files in os.walk(directory):
            for name in files:
                try:
                    newest = max(newest, os.stat(os.path.join(root, name)).st_mtime_ns)
                except OSError:
                    continue
    return newest


class Spares:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spare: tuple[tuple, Future] | None = None
        self._last_key: tuple | None = None
        atexit.register(self.discard)

    @staticmethod
    def key(
        profile_key: str,
        modules_dir: str | None,
        prosody_source: str | None,
        plugin_dirs: list[str],
    ) -> tuple:
        return (
            profile_key,
            modules_dir,
            prosody_source,
            tuple(_tree_stamp(d) for d in plugin_dirs),
        )

    def take(self, key: tuple) -> Sandbox | None:
        """The spare booted for `key`, or None (a spare for another key is stopped)."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is None:
            return None
        spare_key, future = spare
        try:
            sandbox = future.result(TAKE_TIMEOUT)
        except Exception:  # a spare that failed to boot: the caller boots its own
            return None
        if spare_key != key or sandbox.lua is None:
            sandbox.stop()
            return None
        return sandbox

    def prepare(self, key: tuple, factory: Callable[[], Sandbox]) -> None:
        """Boot a sandbox for `key` in the background (one spare at a time), once the
        same key was asked for twice in a row: a run whose profiles all differ would
        only waste the boots."""
        with self._lock:
            repeated, self._last_key = key == self._last_key, key
            if self._spare is not None or not repeated:
                return
            future: Future = Future()
            self._spare = (key, future)

        def boot() -> None:
            try:
                sandbox = factory()
                sandbox.start()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(sandbox)

        threading.Thread(target=boot, name="sandbox-spare", daemon=True).start()

    def discard(self) -> None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            try:
                spare[1].result(TAKE_TIMEOUT).stop()
            except Exception:
                pass


SPARES = Spares()
