"""A stand-in for the docker SDK's client, for machines without a Docker engine.

It implements the slice of the SDK DockerTarget uses (images.get/pull, containers.run/
list, container.reload/logs/exec_run/stop/remove, .status/.attrs/.labels/.id) and records
every call. A "container" of the default kind is emulated with a real local prosody: the
generated config is read from the directory mounted at /harness/config, its container
paths are mapped to host paths, and its fixed ports 5222/5280 to free loopback ports —
which is what Docker's port publishing does. Logs read back are translated the other
way, so DockerTarget sees what it would see from a real container.
"""

from __future__ import annotations

import itertools
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors

from harness.targets.docker import (
    C2S_PORT,
    CONTAINER_CONFIG,
    CONTAINER_CONFIG_DIR,
    CONTAINER_DATA_DIR,
    CONTAINER_MODULES_DIR,
    CONTAINER_PIDFILE,
    HTTP_PORT,
)
from harness.targets.prosody_readiness import free_port

_ids = itertools.count(1)


@dataclass
class ExecResult:
    exit_code: int
    output: bytes


class FakeContainer:
    def __init__(self, engine: FakeDockerClient, image: str, options: dict[str, Any]):
        self.engine = engine
        self.image = image
        self.options = options
        self.id = f"fake{next(_ids):04d}"
        self.labels = dict(options.get("labels") or {})
        self.status = "created"
        self.attrs: dict[str, Any] = {"State": {"ExitCode": None}, "NetworkSettings": {}}
        self.removed = False
        self.calls: list[tuple[str, Any]] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._host_ports: dict[int, int] = {}
        self._canned_logs = b""

    # -- emulation --------------------------------------------------------------------

    def boot(self) -> None:
        kind = self.engine.container_kind
        if kind == "prosody":
            self._boot_prosody()
        elif kind == "exits":
            self._canned_logs = self.engine.exit_logs
            self.status = "exited"
            self.attrs["State"]["ExitCode"] = 1
        elif kind == "silent":
            self.status = "running"  # never logs, never listens

    def _mount(self, container_path: str) -> str:
        for host, spec in (self.options.get("volumes") or {}).items():
            if spec["bind"] == container_path:
                assert spec["mode"] == "ro", f"{container_path} must be mounted read-only"
                return host
        raise AssertionError(f"nothing mounted at {container_path}")

    def _boot_prosody(self) -> None:
        self._workdir = Path(tempfile.mkdtemp(prefix="fake-container-"))
        (self._workdir / "data").mkdir()
        self._host_ports = {C2S_PORT: free_port(), HTTP_PORT: free_port()}
        config = Path(self._mount(CONTAINER_CONFIG_DIR), "prosody.cfg.lua").read_text()
        for old, new in (
            (f'"{CONTAINER_CONFIG_DIR}', f'"{self._mount(CONTAINER_CONFIG_DIR)}'),
            (f'"{CONTAINER_MODULES_DIR}"', f'"{self._mount(CONTAINER_MODULES_DIR)}"'),
            (f'"{CONTAINER_DATA_DIR}"', f'"{self._workdir / "data"}"'),
            (f'"{CONTAINER_PIDFILE}"', f'"{self._workdir / "prosody.pid"}"'),
            ('interfaces = { "*" }', 'interfaces = { "127.0.0.1" }'),
            (f"c2s_ports = {{ {C2S_PORT} }}", f"c2s_ports = {{ {self._host_ports[C2S_PORT]} }}"),
            (
                f"http_ports = {{ {HTTP_PORT} }}",
                f"http_ports = {{ {self._host_ports[HTTP_PORT]} }}",
            ),
        ):
            assert old in config, f"expected {old!r} in the generated config"
            config = config.replace(old, new)
        (self._workdir / "prosody.cfg.lua").write_text(config)
        self._output = open(self._workdir / "stdout", "wb")
        self._process = subprocess.Popen(
            ["prosody", "--config", str(self._workdir / "prosody.cfg.lua"), "-F"],
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.status = "running"
        self.attrs["NetworkSettings"]["Ports"] = {
            f"{port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(host)}]
            for port, host in self._host_ports.items()
        }

    # -- the SDK's Container surface --------------------------------------------------

    def reload(self) -> None:
        self.calls.append(("reload", None))
        if self._process is not None and self._process.poll() is not None:
            self.status = "exited"
            self.attrs["State"]["ExitCode"] = self._process.returncode

    def logs(self, stdout: bool = True, stderr: bool = True) -> bytes:
        if self._workdir is None:
            return self._canned_logs
        text = (self._workdir / "stdout").read_bytes()
        for port, host in self._host_ports.items():  # the container's view of its ports
            text = text.replace(f"]:{host}".encode(), f"]:{port}".encode())
        return text

    def exec_run(self, cmd: list[str], user: str = "") -> ExecResult:
        self.calls.append(("exec_run", (list(cmd), user)))
        if self._workdir is None or self.status != "running":
            raise docker.errors.APIError(f"container {self.id} is not running")
        local = [
            str(self._workdir / "prosody.cfg.lua") if a == CONTAINER_CONFIG else a for a in cmd
        ]
        result = subprocess.run(local, capture_output=True, timeout=30)
        return ExecResult(result.returncode, result.stdout + result.stderr)

    def stop(self, timeout: int = 10) -> None:
        self.calls.append(("stop", timeout))
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            self._process.wait(timeout)
        if self._process is not None:
            self.attrs["State"]["ExitCode"] = self._process.returncode
            self._output.close()
        self.status = "exited"

    def remove(self, force: bool = False, v: bool = False) -> None:
        self.calls.append(("remove", {"force": force, "v": v}))
        if self.removed:
            raise docker.errors.NotFound(f"no such container {self.id}")
        if self.status == "running" and not force:
            raise docker.errors.APIError("cannot remove a running container")
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(5)
        self.removed = True
        self.status = "removed"
        self.engine.containers.all.remove(self)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None


class FakeContainers:
    def __init__(self, engine: FakeDockerClient):
        self.engine = engine
        self.all: list[FakeContainer] = []
        self.run_calls: list[tuple[str, dict[str, Any]]] = []

    def run(self, image: str, **options: Any) -> FakeContainer:
        self.run_calls.append((image, options))
        assert options.get("detach") is True, "DockerTarget must not block on run()"
        container = FakeContainer(self.engine, image, options)
        self.all.append(container)
        container.boot()
        return container

    def list(self, all: bool = False, filters: dict[str, str] | None = None):
        label = (filters or {}).get("label")
        return [c for c in self.all if label is None or label in c.labels]


class FakeImages:
    def __init__(self, engine: FakeDockerClient):
        self.engine = engine
        self.pulled: list[str] = []

    def get(self, name: str) -> str:
        if name not in self.engine.local_images:
            raise docker.errors.ImageNotFound(f"No such image: {name}")
        return name

    def pull(self, name: str) -> str:
        if self.engine.pull_fails:
            raise docker.errors.APIError(f"pull access denied for {name}")
        self.pulled.append(name)
        self.engine.local_images.add(name)
        return name


@dataclass
class FakeDockerClient:
    container_kind: str = "prosody"  # prosody | exits | silent
    local_images: set[str] = field(default_factory=lambda: {"prosodyim/prosody:0.12"})
    pull_fails: bool = False
    exit_logs: bytes = b""

    def __post_init__(self) -> None:
        self.images = FakeImages(self)
        self.containers = FakeContainers(self)
