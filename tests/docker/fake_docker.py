"""A stand-in for the docker SDK's client, for the docker target's failure paths: an image
that is missing or cannot be pulled, a container that exits or never gets ready, engines
that race us while we remove containers. (What works is tested on a real engine, in
test_docker_engine.py.) It records every call."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import docker.errors

_ids = itertools.count(1)


class FakeContainer:
    def __init__(self, engine: FakeDockerClient, image: str, options: dict[str, Any]):
        self.engine = engine
        self.image = image
        self.options = options
        self.id = f"fake{next(_ids):08d}"
        self.status = "created"
        self.attrs: dict[str, Any] = {
            "State": {"ExitCode": None},
            "Labels": dict(options.get("labels") or {}),
        }
        self.removed = False
        self.calls: list[tuple[str, Any]] = []
        self.refusals = 0  # removals to refuse with "state improper" first

    def boot(self) -> None:
        if self.engine.container_kind == "exits":
            self.status = "exited"
            self.attrs["State"]["ExitCode"] = 1
        else:  # silent: runs, never logs, never listens
            self.status = "running"

    def reload(self) -> None:
        self.calls.append(("reload", None))
        if self.removed:
            raise docker.errors.NotFound(f"no such container {self.id}")

    def logs(self, stdout: bool = True, stderr: bool = True) -> bytes:
        return self.engine.exit_output

    def kill(self, signal: str = "SIGKILL") -> None:
        self.calls.append(("kill", signal))
        self.status = "exited"

    def remove(self, force: bool = False, v: bool = False) -> None:
        self.calls.append(("remove", {"force": force, "v": v}))
        if self.removed:
            raise docker.errors.NotFound(f"no such container {self.id}")
        if self.refusals:
            self.refusals -= 1
            raise docker.errors.APIError(
                f"cannot remove container {self.id} as it could not be stopped: "
                "container state improper"
            )
        self.removed = True
        self.engine.containers.all.remove(self)


class FakeContainers:
    def __init__(self, engine: FakeDockerClient):
        self.engine = engine
        self.all: list[FakeContainer] = []
        self.run_calls: list[tuple[str, dict[str, Any]]] = []
        self.list_calls: list[dict[str, Any]] = []

    def run(self, image: str, **options: Any) -> FakeContainer:
        self.run_calls.append((image, options))
        assert options.get("detach") is True, "DockerTarget must not block on run()"
        container = FakeContainer(self.engine, image, options)
        self.all.append(container)
        container.boot()
        return container

    def list(self, all: bool = False, filters: dict[str, str] | None = None, sparse=False):
        self.list_calls.append({"all": all, "filters": filters, "sparse": sparse})
        label = (filters or {}).get("label")
        found = [c for c in self.all if label is None or label in c.attrs["Labels"]]
        for container in self.engine.vanish_while_listing:
            # Another process removes its own container between our list and our remove.
            container.removed = True
            self.all.remove(container)
        self.engine.vanish_while_listing = []
        return found


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
    container_kind: str = "exits"  # exits | silent
    local_images: set[str] = field(default_factory=lambda: {"example/prosody:1"})
    pull_fails: bool = False
    exit_output: bytes = b""
    vanish_while_listing: list[FakeContainer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.images = FakeImages(self)
        self.containers = FakeContainers(self)
