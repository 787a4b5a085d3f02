"""The `docker` target: the same Profile run in a Prosody container through the docker SDK.

The generated config and the modules directory are bind-mounted read-only; Prosody logs to
stdout in the same line format as the file log, so `log()` reads the container's logs.
Inside the container Prosody listens on all interfaces at fixed ports; Docker publishes
them on 127.0.0.1 only, at ports it picks. Accounts are created with `prosodyctl register`
run inside the container.

A container cannot be tied to this process the way a child process is: if Python is
killed with SIGKILL the container keeps running. Every container carries labels naming
its owner (host and pid), and the next DockerTarget started on the same machine removes
containers whose owner is gone.
"""

from __future__ import annotations

import atexit
import os
import socket
import time
import weakref
from pathlib import Path
from typing import Any

import requests

from harness.profile import Profile
from harness.prosody_config import ConfigError, ServerLayout, http_enabled, render_config
from harness.prosody_log import parse_log, tail
from harness.target import LogLine, TargetError
from harness.targets.loopback import LoopbackTarget
from harness.targets.prosody import REPO_LUA_MODULES
from harness.targets.prosody_process import make_run_directory, pid_alive, release_run_directory
from harness.targets.prosody_readiness import (
    PORT_TAKEN,
    activated,
    fatal_start_error,
)
from harness.xmpp_client import XmppClient

DEFAULT_IMAGE = "prosodyim/prosody:0.12"  # the Prosody project's own image, 0.12 series
CONTAINER_CONFIG_DIR = "/harness/config"
CONTAINER_CONFIG = f"{CONTAINER_CONFIG_DIR}/prosody.cfg.lua"
CONTAINER_MODULES_DIR = "/harness/modules"
CONTAINER_DATA_DIR = "/var/lib/prosody"
CONTAINER_PIDFILE = "/tmp/prosody.pid"
C2S_PORT = 5222
HTTP_PORT = 5280
LABEL = "prosody-harness"
OWNER_HOST_LABEL = "prosody-harness.owner-host"
OWNER_PID_LABEL = "prosody-harness.owner-pid"
POLL_SECONDS = 0.05
STOP_TIMEOUT_SECONDS = 5

_live_targets: weakref.WeakSet[DockerTarget] = weakref.WeakSet()


@atexit.register
def _stop_forgotten_targets() -> None:
    for target in list(_live_targets):
        target.stop()


def container_layout() -> ServerLayout:
    """Where things are inside the container."""
    return ServerLayout(
        data_path=CONTAINER_DATA_DIR,
        pidfile=CONTAINER_PIDFILE,
        certificates=f"{CONTAINER_CONFIG_DIR}/certs",
        plugin_paths=[CONTAINER_MODULES_DIR],
        c2s_port=C2S_PORT,
        http_port=HTTP_PORT,
        log_file=None,  # stdout: the container's logs
        interfaces=["*"],  # the container's own interfaces; Docker publishes on loopback
    )


class DockerTarget(LoopbackTarget):
    """A Prosody container started from a Profile (see the module docstring)."""

    def __init__(
        self,
        profile: Profile,
        modules_dir: str | None = None,
        image: str = DEFAULT_IMAGE,
        docker_client: Any = None,
        ready_timeout: float = 30.0,
    ) -> None:
        self.profile = profile
        self.modules_dir = modules_dir
        self.name = "docker"
        self.image = image
        self.ready_timeout = ready_timeout
        self.directory: Path | None = None  # host side of the config mount
        self.c2s_port = 0  # published host ports
        self.http_port = 0
        self.boot_seconds = 0.0
        self._docker = docker_client
        self._container: Any = None
        self._last_log: list[LogLine] = []
        self._clients: list[XmppClient] = []
        self._http = requests.Session()

    @property
    def container_id(self) -> str | None:
        return self._container.id if self._container is not None else None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def _client(self) -> Any:
        if self._docker is None:
            import docker  # the SDK is only needed by this target

            try:
                self._docker = docker.from_env()
            except docker.errors.DockerException as exc:
                raise TargetError(f"cannot reach the Docker engine: {exc}") from None
        return self._docker

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        if self._container is not None:
            raise TargetError("the docker target is already started")
        plugin_dir = Path(self.modules_dir) if self.modules_dir else REPO_LUA_MODULES
        if not plugin_dir.is_dir():
            raise TargetError(f"modules directory {plugin_dir} does not exist")
        client = self._client()
        try:
            config = render_config(self.profile, container_layout())
        except ConfigError as exc:
            raise TargetError(f"invalid profile: {exc}") from None
        self._remove_orphans(client)
        self._ensure_image(client)
        self.directory = make_run_directory("prosody-harness-docker-")
        try:
            # Readable by whatever user the image runs Prosody as.
            self.directory.chmod(0o755)
            (self.directory / "certs").mkdir(mode=0o755)
            config_file = self.directory / "prosody.cfg.lua"
            config_file.write_text(config, encoding="utf-8")
            config_file.chmod(0o644)
            started = time.monotonic()
            self._container = client.containers.run(
                self.image,
                entrypoint=["prosody"],
                command=["--config", CONTAINER_CONFIG, "-F"],
                user="root",
                detach=True,
                labels={
                    LABEL: "1",
                    OWNER_HOST_LABEL: socket.gethostname(),
                    OWNER_PID_LABEL: str(os.getpid()),
                },
                volumes={
                    str(self.directory): {"bind": CONTAINER_CONFIG_DIR, "mode": "ro"},
                    str(plugin_dir.resolve()): {"bind": CONTAINER_MODULES_DIR, "mode": "ro"},
                },
                ports={
                    f"{C2S_PORT}/tcp": ("127.0.0.1", None),
                    f"{HTTP_PORT}/tcp": ("127.0.0.1", None),
                },
            )
            _live_targets.add(self)
            self._wait_ready(started)
            self.boot_seconds = time.monotonic() - started
        except BaseException:
            self.stop()
            raise

    def _ensure_image(self, client: Any) -> None:
        import docker

        try:
            client.images.get(self.image)
        except docker.errors.ImageNotFound:
            try:
                client.images.pull(self.image)
            except docker.errors.DockerException as exc:
                raise TargetError(f"cannot pull image {self.image}: {exc}") from None

    def _remove_orphans(self, client: Any) -> None:
        """Remove containers left by harness processes on this host that no longer exist."""
        here = socket.gethostname()
        for container in client.containers.list(all=True, filters={"label": LABEL}):
            labels = container.labels or {}
            if labels.get(OWNER_HOST_LABEL) != here:
                continue
            try:
                owner = int(labels.get(OWNER_PID_LABEL, ""))
            except ValueError:
                continue
            if owner != os.getpid() and not pid_alive(owner):
                container.remove(force=True, v=True)

    def _published_port(self, container_port: int) -> int:
        bindings = (self._container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
        for binding in bindings.get(f"{container_port}/tcp") or []:
            if binding.get("HostIp") in ("127.0.0.1", "") and binding.get("HostPort"):
                return int(binding["HostPort"])
        return 0

    def _wait_ready(self, started: float) -> None:
        want_http = http_enabled(self.profile)
        deadline = started + self.ready_timeout
        while True:
            self._container.reload()
            lines = self.log()
            fatal = fatal_start_error(lines) or next(
                (line.message for line in lines if PORT_TAKEN in line.message), None
            )
            if fatal:
                self._fail(f"prosody reported: {fatal}")
            if self._container.status in ("exited", "dead"):
                code = self._container.attrs.get("State", {}).get("ExitCode")
                self._fail(f"the container exited with status {code} while starting")
            self.c2s_port = self._published_port(C2S_PORT)
            self.http_port = self._published_port(HTTP_PORT)
            # Docker's proxy accepts connections before Prosody listens: the log decides.
            if (
                self.c2s_port
                and activated(lines, "c2s", C2S_PORT)
                and (not want_http or (self.http_port and activated(lines, "http", HTTP_PORT)))
                and self._listeners_answer(want_http)
            ):
                return
            if time.monotonic() > deadline:
                self._fail(f"the container was not ready within {self.ready_timeout:g} s")
            time.sleep(POLL_SECONDS)

    def _fail(self, reason: str) -> None:
        raise TargetError(f"{reason}\nlog tail:\n{tail(self.log(), 25) or '(empty)'}")

    def stop(self) -> None:
        self._disconnect_clients()
        container, self._container = self._container, None
        if container is not None:
            import docker

            try:
                container.stop(timeout=STOP_TIMEOUT_SECONDS)
                self._last_log = parse_log(_text(container.logs(stdout=True, stderr=True)))
            except docker.errors.DockerException:
                pass  # already gone; removal below settles it
            try:
                container.remove(force=True, v=True)  # v: the image's anonymous volumes too
            except docker.errors.NotFound:
                pass
        _live_targets.discard(self)
        self._http.close()
        directory, self.directory = self.directory, None
        if directory is not None:
            release_run_directory(directory)

    # -- using it ---------------------------------------------------------------------

    def _running(self) -> Any:
        if self._container is None:
            raise TargetError("the docker target is not started")
        return self._container

    def create_user(self, username: str, host: str, password: str) -> None:
        """Create the account, or reset its password (prosodyctl inside the container)."""
        if host not in self.profile.hosts:
            raise TargetError(f"cannot create {username}@{host}: {host} is not a virtual host")
        command = ["prosodyctl", "--config", CONTAINER_CONFIG, "register", username, host, password]
        result = self._running().exec_run(command, user="root")
        if result.exit_code != 0:
            said = _text(result.output).strip() or f"status {result.exit_code}"
            raise TargetError(f"cannot create {username}@{host}: {said}")

    def _ensure_started(self) -> None:
        self._running()

    def log(self) -> list[LogLine]:
        if self._container is None:
            return list(self._last_log)
        self._last_log = parse_log(_text(self._container.logs(stdout=True, stderr=True)))
        return list(self._last_log)


def _text(data: bytes | str) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data
