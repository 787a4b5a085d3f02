"""The container engine the docker target talks to, through the docker SDK.

In order: the engine `DOCKER_HOST` names; Docker's default socket; else, when podman is
installed and we are root, a podman API service that this process starts for itself
(with the project's containers.conf, on a socket in its own run directory) and that ends
with it: stopped at exit, and killed by the kernel if this process is killed (it is a
tied child, see harness.targets.prosody_process). Nothing is left running and no system
configuration file is read or written beyond podman's defaults.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.targets.prosody_process import (
    make_run_directory,
    release_run_directory,
    spawn_tied_child,
)

CONTAINERS_CONF = Path(__file__).with_name("containers.conf")
DEFAULT_SOCKET = "/var/run/docker.sock"
SERVICE_READY_SECONDS = 20.0
API_TIMEOUT_SECONDS = 120  # image imports and container starts on a busy machine
INSTALL_HINT = (
    "set DOCKER_HOST to a Docker engine, start Docker, or install podman "
    "(Debian: apt-get install -y podman runc; `make test` does it when run as root)"
)


class EngineUnavailable(RuntimeError):
    """No container engine can be reached or started here; the message says why."""


@dataclass
class Engine:
    client: Any  # docker.DockerClient
    description: str  # for reports: which engine, how it was reached


_lock = threading.Lock()
_engine: Engine | None = None
_failure: str | None = None
_service: subprocess.Popen[bytes] | None = None
_service_dir: Path | None = None


def engine() -> Engine:
    """The process's engine, found (or started) on first use; EngineUnavailable if none."""
    global _engine, _failure
    with _lock:
        if _engine is not None:
            return _engine
        if _failure is not None:
            raise EngineUnavailable(_failure)
        try:
            _engine = _find_engine()
        except EngineUnavailable as exc:
            _failure = str(exc)
            raise
        return _engine


def _find_engine() -> Engine:
    try:
        import docker
    except ImportError:
        raise EngineUnavailable("the docker SDK is not installed (pip install docker)") from None
    host = os.environ.get("DOCKER_HOST")
    if host:
        return Engine(_client(docker, host), f"the engine at DOCKER_HOST={host}")
    if os.path.exists(DEFAULT_SOCKET):
        url = f"unix://{DEFAULT_SOCKET}"
        try:
            return Engine(_client(docker, url), f"the engine at {url}")
        except EngineUnavailable:
            pass  # a stale socket: try podman
    if shutil.which("podman") and os.geteuid() == 0:
        return _start_podman_service(docker)
    raise EngineUnavailable(f"no container engine here: {INSTALL_HINT}")


def _client(docker: Any, url: str) -> Any:
    """A client of the engine at `url` that has answered a ping."""
    try:
        client = docker.DockerClient(base_url=url, timeout=API_TIMEOUT_SECONDS)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        raise EngineUnavailable(f"the engine at {url} does not answer: {exc}") from None
    return client


def _start_podman_service(docker: Any) -> Engine:
    global _service, _service_dir
    directory = make_run_directory("prosody-harness-podman-")
    socket_path = directory / "api.sock"
    url = f"unix://{socket_path}"
    env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    with open(directory / "service.log", "wb") as output:
        process = spawn_tied_child(
            ["podman", "system", "service", "--time=0", url],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    _service, _service_dir = process, directory
    deadline = time.monotonic() + SERVICE_READY_SECONDS
    while True:
        if process.poll() is not None:
            said = (directory / "service.log").read_text("utf-8", "replace")[-2000:]
            stop_service()
            raise EngineUnavailable(f"podman system service exited ({process.returncode}): {said}")
        if socket_path.exists():
            try:  # the client asks for the API version as it is made: once it answers
                client = docker.DockerClient(base_url=url, timeout=API_TIMEOUT_SECONDS)
                client.ping()
                break
            except Exception:  # noqa: BLE001 - not answering yet
                pass
        if time.monotonic() > deadline:
            stop_service()
            raise EngineUnavailable(
                f"podman system service did not answer within {SERVICE_READY_SECONDS:g} s"
            )
        time.sleep(0.05)
    version = client.version().get("Version", "?")
    return Engine(client, f"podman {version} (an API service started by prosody-harness)")


@atexit.register
def stop_service() -> None:
    """Stop the podman API service this process started, if any (idempotent)."""
    global _service, _service_dir, _engine
    process, _service = _service, None
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    directory, _service_dir = _service_dir, None
    if directory is not None:
        release_run_directory(directory)
    if _engine is not None and process is not None:
        _engine = None
