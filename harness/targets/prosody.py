"""The `prosody` target: a local prosody binary run as a child process.

Each target gets a fresh temp directory holding its generated config, data, pidfile, log
and certificates directory, and listens on loopback ports picked at start, so several can
run side by side. The child never outlives this process:

* normal exit or Ctrl-C (KeyboardInterrupt): `stop()`, also run from atexit for targets
  nobody stopped;
* SIGKILL/SIGTERM of this process: the kernel sends the child SIGKILL
  (prctl PR_SET_PDEATHSIG). That signal follows the *thread* that forked the child, so
  every child is forked by one spawner thread that lives as long as the process: targets
  may be started from short-lived worker threads.

The child runs in its own session so a terminal's Ctrl-C reaches only Python, which then
stops the server in order instead of racing it.
"""

from __future__ import annotations

import atexit
import codecs
import os
import shutil
import signal
import subprocess
import threading
import time
import weakref
from pathlib import Path

import requests

from harness.profile import Profile
from harness.prosody_config import ConfigError, ServerLayout, http_enabled, render_config
from harness.prosody_log import LogReader, tail
from harness.target import LogLine, TargetError
from harness.targets.loopback import LoopbackTarget
from harness.targets.prosody_accounts import iterations_if_writable, write_account
from harness.targets.prosody_process import (
    KEEP_ENV,
    make_run_directory,
    release_run_directory,
    spawn_tied_child,
)
from harness.targets.prosody_readiness import (
    PORT_TAKEN,
    activated,
    fatal_start_error,
    free_port,
)
from harness.xmpp_client import XmppClient

REPO_LUA_MODULES = Path(__file__).resolve().parents[2] / "lua_modules"
INSTALL_HINT = "install it with: apt-get install -y prosody lua-cjson"

START_ATTEMPTS = 3
POLL_SECONDS = 0.003
STOP_GRACE_SECONDS = 5.0


def find_program(name: str, given: str | None) -> str:
    if given:
        if not (os.path.isfile(given) and os.access(given, os.X_OK)):
            raise TargetError(f"{given} is not an executable file")
        return given
    found = shutil.which(name)
    if not found:
        raise TargetError(f"{name} not found on PATH; {INSTALL_HINT}")
    return found


_live_targets: weakref.WeakSet[ProsodyTarget] = weakref.WeakSet()


@atexit.register
def _stop_forgotten_targets() -> None:
    for target in list(_live_targets):
        target.stop()


class ProsodyTarget(LoopbackTarget):
    """A real Prosody started from a Profile; see the module docstring for its lifetime."""

    def __init__(
        self,
        profile: Profile,
        modules_dir: str | None = None,
        prosody_binary: str | None = None,
        ready_timeout: float = 10.0,
    ) -> None:
        self.profile = profile
        self.modules_dir = modules_dir
        self.name = "prosody"
        self.prosody_binary = prosody_binary
        self.ready_timeout = ready_timeout
        self.directory: Path | None = None
        self.c2s_port = 0
        self.http_port = 0
        self.boot_seconds = 0.0  # spawn to ready, of the last start
        self._process: subprocess.Popen[bytes] | None = None
        self._log = LogReader()
        self._log_decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._log_offset = 0
        self._log_lock = threading.Lock()
        self._clients: list[XmppClient] = []
        self._http = requests.Session()

    # -- paths ------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self._dir / "prosody.cfg.lua"

    @property
    def log_path(self) -> Path:
        return self._dir / "prosody.log"

    @property
    def output_path(self) -> Path:
        """stdout/stderr of the prosody process (config errors land here, not in the log)."""
        return self._dir / "prosody.out"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def _dir(self) -> Path:
        if self.directory is None:
            raise TargetError("the prosody target is not started")
        return self.directory

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        if self._process is not None:
            raise TargetError("the prosody target is already started")
        binary = find_program("prosody", self.prosody_binary)
        plugin_dir = Path(self.modules_dir) if self.modules_dir else REPO_LUA_MODULES
        if self.modules_dir and not plugin_dir.is_dir():
            raise TargetError(f"modules directory {self.modules_dir} does not exist")
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._prepare_directory(plugin_dir)
                self._spawn_and_wait(binary)
                return
            except _PortTaken:
                self._discard()
                if attempt == START_ATTEMPTS:
                    raise TargetError(
                        f"prosody could not bind its ports in {START_ATTEMPTS} attempts"
                    ) from None
            except BaseException:
                self._discard()
                raise

    def _prepare_directory(self, plugin_dir: Path) -> None:
        self.directory = make_run_directory("prosody-harness-")
        for sub in ("data", "certs"):
            (self.directory / sub).mkdir()
        self.c2s_port = free_port()
        self.http_port = free_port()
        while self.http_port == self.c2s_port:
            self.http_port = free_port()
        layout = ServerLayout(
            data_path=str(self.directory / "data"),
            pidfile=str(self.directory / "prosody.pid"),
            certificates=str(self.directory / "certs"),
            plugin_paths=[str(plugin_dir.resolve())],
            c2s_port=self.c2s_port,
            http_port=self.http_port,
            log_file=str(self.log_path),
        )
        try:
            self.config_path.write_text(render_config(self.profile, layout), encoding="utf-8")
        except ConfigError as exc:
            raise TargetError(f"invalid profile: {exc}") from None
        self._log = LogReader()
        self._log_decoder.reset()
        self._log_offset = 0

    def _spawn_and_wait(self, binary: str) -> None:
        started = time.monotonic()
        with open(self.output_path, "wb") as output:
            command = [binary, "--config", str(self.config_path), "-F"]
            self._process = spawn_tied_child(
                command,
                cwd=self._dir,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _live_targets.add(self)
        self._wait_ready(started)
        self.boot_seconds = time.monotonic() - started

    def _wait_ready(self, started: float) -> None:
        process = self._process
        assert process is not None
        want_http = http_enabled(self.profile)
        c2s_bound = http_bound = False
        deadline = started + self.ready_timeout
        while True:
            lines = self.log()
            if any(line.level == "error" and PORT_TAKEN in line.message for line in lines):
                raise _PortTaken()
            fatal = fatal_start_error(lines)
            if fatal:
                self._fail(f"prosody reported: {fatal}")
            c2s_bound = c2s_bound or activated(lines, "c2s", self.c2s_port)
            http_bound = http_bound or activated(lines, "http", self.http_port)
            if process.poll() is not None:
                self._fail(f"prosody exited with status {process.returncode} while starting")
            if (
                c2s_bound
                and (http_bound or not want_http)
                and self._listeners_answer(want_http)
            ):
                return
            if time.monotonic() > deadline:
                missing = "c2s" if not c2s_bound else "HTTP" if want_http else "c2s"
                self._fail(f"prosody was not ready within {self.ready_timeout:g} s ({missing})")
            time.sleep(POLL_SECONDS)

    def _fail(self, reason: str) -> None:
        """Raise a TargetError with the reason, the process output and the log's tail."""
        output = ""
        if self.output_path.exists():
            output = self.output_path.read_text("utf-8", "replace").strip()
        parts = [reason]
        if output:
            parts.append("prosody output:\n" + output[-3000:])
        parts.append("log tail:\n" + (tail(self.log(), 25) or "(empty)"))
        if os.environ.get(KEEP_ENV) == "1":
            parts.append(f"files kept in {self.directory}")
        raise TargetError("\n".join(parts))

    def stop(self) -> None:
        self._disconnect_clients()
        self._discard()
        self._http.close()

    def _discard(self) -> None:
        """End the process (TERM, then KILL) and remove its directory; idempotent."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(STOP_GRACE_SECONDS)
            self.log()  # read what it wrote while stopping, for callers asking afterwards
        _live_targets.discard(self)
        directory, self.directory = self.directory, None
        if directory is not None:
            release_run_directory(directory)

    # -- using it ---------------------------------------------------------------------

    def create_user(self, username: str, host: str, password: str) -> None:
        """Create the account, or reset its password if it exists.

        Written straight into the internal store when the profile keeps accounts there
        (a few ms), else through `prosodyctl register` (~40 ms).
        """
        if host not in self.profile.hosts:
            raise TargetError(f"cannot create {username}@{host}: {host} is not a virtual host")
        iterations = iterations_if_writable(self.profile, host, username, password)
        if iterations is not None:
            write_account(self._dir / "data", host, username, password, iterations)
            return
        self.register_with_prosodyctl(username, host, password)

    def register_with_prosodyctl(self, username: str, host: str, password: str) -> None:
        prosodyctl = self._prosodyctl()
        command = [
            prosodyctl,
            "--config",
            str(self.config_path),
            "register",
            username,
            host,
            password,
        ]
        try:
            result = subprocess.run(
                command,
                cwd=self._dir,
                capture_output=True,
                text=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise TargetError(f"prosodyctl register {username}@{host} timed out") from None
        if result.returncode != 0:
            said = (result.stdout + result.stderr).strip() or f"status {result.returncode}"
            raise TargetError(f"cannot create {username}@{host}: {said}")

    def _prosodyctl(self) -> str:
        """prosodyctl beside the given prosody binary, else the one on PATH."""
        if self.prosody_binary:
            beside = Path(self.prosody_binary).with_name("prosodyctl")
            if os.access(beside, os.X_OK):
                return str(beside)
        return find_program("prosodyctl", None)

    def _ensure_started(self) -> None:
        if self._process is None:
            raise TargetError("the prosody target is not started")

    def log(self) -> list[LogLine]:
        """Every log line so far (read incrementally: only new bytes are parsed)."""
        with self._log_lock:
            if self.directory is not None and self.log_path.exists():
                with open(self.log_path, "rb") as handle:
                    handle.seek(self._log_offset)
                    data = handle.read()
                self._log_offset += len(data)
                self._log.feed(self._log_decoder.decode(data))
            return list(self._log.lines)


class _PortTaken(Exception):
    """Prosody could not bind a port we picked; the start is retried with new ones."""
