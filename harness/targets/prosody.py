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
import re
import shutil
import signal
import subprocess
import threading
import time
import weakref
from pathlib import Path

import requests

from harness.coverage import recorder as coverage
from harness.lua_config import needs_accounts
from harness.ports import HeldPorts
from harness.profile import Profile
from harness.prosody_config import (
    ConfigError,
    ResolvedConfig,
    ServerLayout,
    render_config,
    resolve,
)
from harness.prosody_install import ProsodyInstall, ProsodyInstallError, resolve_prosody
from harness.prosody_log import LogReader, tail, welcome_version
from harness.target import PROJECT_MODULES, LogLine, TargetError
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
)
from harness.xmpp_client import XmppClient

DEPENDENCY_NOTICE = re.compile(r"^Prosody was unable to find (\S+)", re.MULTILINE)
START_ATTEMPTS = 3
POLL_SECONDS = 0.003
STOP_GRACE_SECONDS = 5.0


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
        prosody: str | None = None,
        ready_timeout: float = 10.0,
    ) -> None:
        self.profile = profile
        self.modules_dir = modules_dir
        self.name = "prosody"
        self.prosody = prosody  # "0.12", "13", a launcher path, or None (see prosody_install)
        self.ready_timeout = ready_timeout
        self.version = ""  # the running server's, from its log (e.g. "0.12.3")
        # Optional libraries Prosody said at start it could not find (printed to its
        # output, not logged: they are reported with the run, never an error).
        self.notices: list[str] = []
        self.directory: Path | None = None
        self.c2s_port = 0
        self.http_port = 0
        self._held_ports: HeldPorts | None = None
        self.boot_seconds = 0.0  # spawn to ready, of the last start
        self._process: subprocess.Popen[bytes] | None = None
        self._install: ProsodyInstall | None = None
        self._log = LogReader()
        self._log_decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._log_offset = 0
        self._log_lock = threading.Lock()
        self._clients: list[XmppClient] = []
        self._http = requests.Session()
        # Only the header fields a scenario gives (and Host, Content-Length), as the
        # sandbox's client sends: no default Accept, User-Agent or Accept-Encoding.
        self._http.headers.clear()
        # The server is on this machine (or its container): an HTTP_PROXY meant for the
        # outside world must not carry the scenario's requests off to a proxy.
        self._http.trust_env = False
        # The profile as Prosody configuration, once the start knows which Prosody reads it.
        self.config: ResolvedConfig | None = None

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
        if self.directory is not None:
            raise TargetError(f"the {self.name} target is already started")
        plugin_dir = Path(self.modules_dir) if self.modules_dir else PROJECT_MODULES
        if not plugin_dir.is_dir():
            raise TargetError(f"modules directory {plugin_dir} does not exist")
        self._before_start()
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._prepare_directory(plugin_dir.resolve())
                started = time.monotonic()
                self._launch()
                _live_targets.add(self)
                self._wait_ready(started)
                self.boot_seconds = time.monotonic() - started
                self.version = welcome_version(self.log()) or self.version
                self.notices = DEPENDENCY_NOTICE.findall(self._output())
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

    def _before_start(self) -> None:
        """Find what the start needs (the prosody launcher) before any file is written."""
        try:
            self._install = resolve_prosody(self.prosody)
        except ProsodyInstallError as exc:
            raise TargetError(str(exc)) from None
        self.version = self._install.version
        self._resolve_config(self._install.source_dir)

    def _resolve_config(self, source_dir: str | None) -> None:
        """The profile as the Prosody in `source_dir` will read it (a config file profile
        is read by that Prosody's own parser); TargetError when it is invalid."""
        try:
            self.config = resolve(self.profile, source_dir=source_dir)
        except ConfigError as exc:
            raise TargetError(f"invalid profile: {exc}") from None

    @property
    def _config(self) -> ResolvedConfig:
        if self.config is None:
            self._resolve_config(resolve_prosody(self.prosody).source_dir)
        assert self.config is not None
        return self.config

    @property
    def first_host(self) -> str:
        if not self._config.hosts:
            raise TargetError("the profile has no virtual host")
        return self._config.default_host

    def _layout(self, directory: Path, plugin_dir: Path) -> ServerLayout:
        return ServerLayout(
            data_path=str(directory / "data"),
            pidfile=str(directory / "prosody.pid"),
            certificates=str(directory / "certs"),
            plugin_paths=[str(plugin_dir), *coverage.plugin_paths(self, directory, plugin_dir)],
            c2s_port=self.c2s_port,
            http_port=self.http_port,
            log_file=str(directory / "prosody.log"),
        )

    def _prepare_directory(self, plugin_dir: Path) -> None:
        self.directory = make_run_directory(f"prosody-harness-{self.name}-")
        for sub in ("data", "certs"):
            (self.directory / sub).mkdir()
        # Held from now until the server is discarded (harness.ports.HeldPorts): a port
        # picked and let go before Prosody binds it could meanwhile be picked for a mock
        # backend of another server, whose listener Prosody's then blocks. Prosody binds
        # with SO_REUSEADDR, as the mocks do, so it listens on them all the same.
        self._held_ports = HeldPorts(["c2s", "http"])
        self.c2s_port = self._held_ports.ports["c2s"]
        self.http_port = self._held_ports.ports["http"]
        try:
            config = render_config(self._config, self._layout(self.directory, plugin_dir))
        except ConfigError as exc:
            raise TargetError(f"invalid profile: {exc}") from None
        self.config_path.write_text(coverage.config_prefix(self) + config, encoding="utf-8")
        self._log = LogReader()
        self._log_decoder.reset()
        self._log_offset = 0

    def _launch(self) -> None:
        """Start the server (it then writes its log into the run directory)."""
        with open(self.output_path, "wb") as output:
            command = [self._install.binary, "--config", str(self.config_path), "-F"]
            self._process = spawn_tied_child(
                command,
                cwd=self._dir,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _exit_status(self) -> int | None:
        """The server's exit status, or None while it runs."""
        return self._process.poll() if self._process else None

    def _wait_ready(self, started: float) -> None:
        want_http = self._config.http_enabled
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
            status = self._exit_status()
            if status is not None:
                self._fail(f"prosody exited with status {status} while starting")
            if c2s_bound and (http_bound or not want_http) and self._listeners_answer(want_http):
                return
            if time.monotonic() > deadline:
                missing = "c2s" if not c2s_bound else "HTTP" if want_http else "c2s"
                self._fail(f"prosody was not ready within {self.ready_timeout:g} s ({missing})")
            time.sleep(POLL_SECONDS)

    def _output(self) -> str:
        """What the server printed (config errors land there, not in the log)."""
        if self.directory is not None and self.output_path.exists():
            return self.output_path.read_text("utf-8", "replace").strip()
        return ""

    def _fail(self, reason: str) -> None:
        """Raise a TargetError with the reason, the server's output and the log's tail."""
        output = self._output()
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

    def _terminate(self) -> None:
        """End the server (TERM, then KILL); idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_GRACE_SECONDS)

    def _discard(self) -> None:
        """End the server and remove its directory; idempotent."""
        if self.directory is not None:
            self._terminate()
            coverage.collect(self)  # --coverage: the counts it wrote at shutdown
            self.log()  # read what it wrote while stopping, for callers asking afterwards
        _live_targets.discard(self)
        self._release_ports()
        directory, self.directory = self.directory, None
        if directory is not None:
            release_run_directory(directory)

    def _release_ports(self) -> None:
        held, self._held_ports = self._held_ports, None
        if held is not None:
            held.release()

    # -- using it ---------------------------------------------------------------------

    def create_user(self, username: str, host: str, password: str) -> None:
        """Create the account, or reset its password if it exists.

        Written straight into the internal store when the profile keeps accounts there
        (a few ms), else through `prosodyctl register` (~40 ms).
        """
        config = self._config
        if host not in config.hosts:
            raise TargetError(f"cannot create {username}@{host}: {host} is not a virtual host")
        if not needs_accounts(config, host):
            return  # its config file's authentication lets any name and password in
        iterations = iterations_if_writable(config, host, username, password)
        if iterations is not None:
            write_account(self._dir / "data", host, username, password, iterations, self.version)
            return
        self.register_with_prosodyctl(username, host, password)

    def register_with_prosodyctl(self, username: str, host: str, password: str) -> None:
        command = ["--config", str(self.config_path), "register", username, host, password]
        status, said = self._prosodyctl(command)
        if status != 0:
            raise TargetError(f"cannot create {username}@{host}: {said or f'status {status}'}")

    def _prosodyctl(self, arguments: list[str]) -> tuple[int, str]:
        """Run prosodyctl (the one beside the server's launcher): (status, its output)."""
        prosodyctl = self._install.prosodyctl or shutil.which("prosodyctl")
        if not prosodyctl:
            raise TargetError(f"no prosodyctl beside {self._install.binary} or on PATH")
        try:
            result = subprocess.run(
                [prosodyctl, *arguments],
                cwd=self._dir,
                capture_output=True,
                text=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise TargetError(f"prosodyctl {arguments[2]} timed out") from None
        return result.returncode, (result.stdout + result.stderr).strip()

    def _ensure_started(self) -> None:
        if self.directory is None:
            raise TargetError(f"the {self.name} target is not started")

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
