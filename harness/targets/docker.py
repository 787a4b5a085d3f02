"""The `docker` target: the same Profile run in a Prosody container through the docker SDK.

It is the prosody target with the server in a container: the run directory (config,
data, log, certificates) is bind-mounted read-write at the same path inside the
container, and the modules directory read-only, so the generated config, the incremental
log reader and the account writer are the ones the prosody target uses. Only starting
and stopping the server differ.

Networking (`network`):
* `bridge`: the engine's own network; Prosody listens on the container's
  interfaces and the engine publishes its ports on 127.0.0.1 only, at the same numbers.
  Mock backends listen on the bridge's gateway address (`backend_host`), which the
  container reaches and nothing outside this machine's bridge does.
* `host` (the default): the container shares this machine's network; Prosody and the
  backends both use 127.0.0.1, as on the prosody target.

The image is ours for the Prosody series asked for (`prosody-harness/prosody:0.12` or
`:13`, built from Debian packages on first use, see harness.containers.image) or any
image named with `image`, the official `prosodyim/prosody:TAG` included (pulled when
missing). A container cannot be tied to this process the way a child process is:
containers carry labels naming their owner (host and pid), and every start removes
containers whose owner is gone.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

from harness.containers.engine import EngineUnavailable, engine
from harness.containers.image import ImageError, ensure_image, image_name, series_of
from harness.coverage import recorder as coverage
from harness.profile import Profile
from harness.prosody_config import ServerLayout
from harness.prosody_install import SERIES, ProsodyInstallError, resolve_prosody
from harness.target import TargetError
from harness.targets.prosody import ProsodyTarget, _PortTaken
from harness.targets.prosody_process import pid_alive
from mock_backends import tls

IMAGE_ENV = "PROSODY_HARNESS_IMAGE"
NETWORK_ENV = "PROSODY_HARNESS_DOCKER_NETWORK"
NETWORKS = ("bridge", "host")
LABEL = "prosody-harness"
OWNER_HOST_LABEL = "prosody-harness.owner-host"
OWNER_PID_LABEL = "prosody-harness.owner-pid"
STATUS_POLL_SECONDS = 0.25  # how often a starting container's state is asked for


class DockerTarget(ProsodyTarget):
    """A Prosody container started from a Profile (see the module docstring)."""

    def __init__(
        self,
        profile: Profile,
        modules_dir: str | None = None,
        prosody: str | None = None,
        image: str | None = None,
        network: str | None = None,
        docker_client: Any = None,
        ready_timeout: float = 30.0,
    ) -> None:
        super().__init__(profile, modules_dir, prosody, ready_timeout)
        self.name = "docker"
        self.image = image or os.environ.get(IMAGE_ENV) or None
        self.network = network or os.environ.get(NETWORK_ENV) or "host"
        if self.network not in NETWORKS:
            raise TargetError(f"docker network {self.network!r}: choose {' or '.join(NETWORKS)}")
        self.engine_description = ""
        self._docker = docker_client
        self._container: Any = None
        self._status_checked = 0.0
        self._gateway: str | None = None

    @property
    def container_id(self) -> str | None:
        return self._container.id if self._container is not None else None

    @property
    def backend_host(self) -> str:
        """Where mock backends listen so that the container reaches them."""
        if self.network == "host":
            return "127.0.0.1"
        if self._gateway is None:
            self._gateway = self._bridge_gateway()
        return self._gateway

    def _client(self) -> Any:
        if self._docker is None:
            try:
                found = engine()
            except EngineUnavailable as exc:
                raise TargetError(f"cannot reach a container engine: {exc}") from None
            self._docker, self.engine_description = found.client, found.description
        return self._docker

    def _bridge_gateway(self) -> str:
        import docker

        try:
            network = self._client().networks.get("bridge")
        except docker.errors.DockerException as exc:
            raise TargetError(f"cannot inspect the engine's bridge network: {exc}") from None
        for config in (network.attrs.get("IPAM") or {}).get("Config") or []:
            gateway = config.get("Gateway")
            if gateway and ":" not in gateway:
                return gateway
        raise TargetError("the engine's bridge network has no IPv4 gateway address")

    # -- lifecycle (the parts that differ from a local process) ----------------------------

    def _before_start(self) -> None:
        client = self._client()
        self._remove_orphans(client)
        if self.image is None:
            series = self._series()
            self.image = image_name(series)
        self._ensure_image(client)
        self.version = ""  # known once the server says it (its log's welcome line)
        self._resolve_config(self._source_dir())

    def _source_dir(self) -> str | None:
        """Lua sources of the image's Prosody series here (to read a config-file profile
        with that version's parser), if this machine has them."""
        series = series_of(self.image) or (self.prosody if self.prosody in SERIES else None)
        try:
            return resolve_prosody(series).source_dir if series else None
        except ProsodyInstallError:
            return None

    def _series(self) -> str:
        if self.prosody in SERIES:
            return self.prosody
        try:
            return resolve_prosody(self.prosody).series
        except ProsodyInstallError as exc:
            raise TargetError(
                f"{exc}; the docker target needs --prosody 0.12 or 13, or --image"
            ) from None

    def _ensure_image(self, client: Any) -> None:
        import docker

        series = series_of(self.image)
        if series is not None:
            try:
                ensure_image(client, series)
            except (ImageError, docker.errors.DockerException) as exc:
                raise TargetError(f"cannot build image {self.image}: {exc}") from None
            return
        try:
            client.images.get(self.image)
        except docker.errors.ImageNotFound:
            try:
                client.images.pull(self.image)
            except docker.errors.DockerException as exc:
                raise TargetError(f"cannot pull image {self.image}: {exc}") from None
        except docker.errors.DockerException as exc:
            raise TargetError(f"cannot inspect image {self.image}: {exc}") from None

    def _layout(self, directory: Path, plugin_dir: Path) -> ServerLayout:
        layout = super()._layout(directory, plugin_dir)
        if self.network == "bridge":
            layout.interfaces = ["*"]  # the container's own; the engine publishes on loopback
        return layout

    def _prepare_directory(self, plugin_dir: Path) -> None:
        super()._prepare_directory(plugin_dir)
        self._plugin_dir = plugin_dir
        # Readable and writable by whatever user the image runs Prosody as.
        for path in (self._dir, self._dir / "data", self._dir / "certs"):
            path.chmod(0o777)
        self.config_path.chmod(0o644)

    def _launch(self) -> None:
        import docker

        ports: dict[str, Any] = {}
        if self.network == "bridge":
            ports = {f"{port}/tcp": ("127.0.0.1", port) for port in (self.c2s_port, self.http_port)}
            self._release_ports()  # the engine binds them itself to publish them
        run_dir = str(self._dir)
        volumes = {
            run_dir: {"bind": run_dir, "mode": "rw"},
            str(self._plugin_dir): {"bind": str(self._plugin_dir), "mode": "ro"},
        }
        config_file = self._config.config_file
        if config_file:  # a suite's config, and what it reads beside it (admins.txt, ...)
            folder = os.path.dirname(config_file)
            volumes[folder] = {"bind": folder, "mode": "ro"}
        certificates = tls.folder_if_made()  # the mocks': a profile may name their CA file
        if certificates is not None:
            volumes[str(certificates)] = {"bind": str(certificates), "mode": "ro"}
        try:
            self._container = self._client().containers.run(
                self.image,
                command=["prosody", "--config", str(self.config_path), "-F"],
                user="root",
                detach=True,
                labels={
                    LABEL: "1",
                    OWNER_HOST_LABEL: socket.gethostname(),
                    OWNER_PID_LABEL: str(os.getpid()),
                },
                volumes=volumes,
                ports=ports,
                network_mode="host" if self.network == "host" else None,
            )
        except docker.errors.APIError as exc:
            if "address already in use" in str(exc).lower():
                raise _PortTaken() from None
            raise TargetError(f"the engine could not start {self.image}: {exc}") from None

    def _exit_status(self) -> int | None:
        import docker

        container = self._container
        if container is None:
            return None
        now = time.monotonic()
        if now - self._status_checked < STATUS_POLL_SECONDS:
            return None  # the log and the probes say more, and cost less than the API
        self._status_checked = now
        try:
            container.reload()
        except docker.errors.NotFound:
            return -1
        if container.status in ("exited", "dead"):
            return int((container.attrs.get("State") or {}).get("ExitCode", -1))
        return None

    def _output(self) -> str:
        import docker

        if self._container is None:
            return ""
        try:
            return _text(self._container.logs(stdout=True, stderr=True)).strip()
        except docker.errors.DockerException:
            return ""

    def _terminate(self) -> None:
        import docker

        container, self._container = self._container, None
        if container is None:
            return
        try:
            # SIGTERM (tini hands it to Prosody, which exits in milliseconds), then a
            # forced removal: the fastest of the engine's ways to stop, measured.
            container.kill(signal="SIGTERM")
        except docker.errors.DockerException:
            pass  # gone already, or exited: the removal settles it
        coverage.wait_for_exit(self, container)  # --coverage: its counts, written at shutdown
        _remove(container)

    def _remove_orphans(self, client: Any) -> None:
        """Remove containers left by harness processes on this host that no longer exist.

        The list is sparse (no inspection per container), and a container that another
        process removes meanwhile is no error: both are races under parallel starts."""
        import docker

        here = socket.gethostname()
        try:
            found = client.containers.list(all=True, sparse=True, filters={"label": LABEL})
        except docker.errors.DockerException as exc:
            raise TargetError(f"cannot list containers: {exc}") from None
        for container in found:
            labels = container.attrs.get("Labels") or {}
            if labels.get(OWNER_HOST_LABEL) != here:
                continue
            try:
                owner = int(labels.get(OWNER_PID_LABEL, ""))
            except ValueError:
                continue
            if owner != os.getpid() and not pid_alive(owner):
                _remove(container)

    # -- accounts the config cannot write directly --------------------------------------

    def _prosodyctl(self, arguments: list[str]) -> tuple[int, str]:
        """prosodyctl inside the container (only for accounts the file writer cannot do)."""
        import docker

        if self._container is None:
            raise TargetError("the docker target is not started")
        try:
            result = self._container.exec_run(["prosodyctl", *arguments], user="root")
        except docker.errors.DockerException as exc:
            raise TargetError(f"prosodyctl in the container: {exc}") from None
        return result.exit_code, _text(result.output).strip()


GONE = ("no such container", "does not exist", "removal of container")
REMOVE_ATTEMPTS = 5


def _remove(container: Any) -> None:
    """Remove a container, whether or not someone else already did. A container caught
    between running and stopped makes the engine refuse a forced removal ("state
    improper"): asked again a moment later, it agrees."""
    import docker

    for attempt in range(1, REMOVE_ATTEMPTS + 1):
        try:
            container.remove(force=True, v=True)  # v: the image's anonymous volumes too
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            text = str(exc).lower()
            if any(gone in text for gone in GONE):
                return
            if attempt == REMOVE_ATTEMPTS:
                raise TargetError(f"cannot remove container {container.id[:12]}: {exc}") from None
            time.sleep(0.05 * attempt)


def _text(data: bytes | str) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data
