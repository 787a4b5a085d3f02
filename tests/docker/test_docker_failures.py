"""The docker target's failure paths, against a fake docker client: each must end in a
clear TargetError, with no container and no run directory left behind."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest
from fake_docker import FakeDockerClient

from harness.profile import Profile
from harness.target import PROJECT_MODULES, TargetError
from harness.targets.docker import LABEL, OWNER_HOST_LABEL, OWNER_PID_LABEL, DockerTarget

IMAGE = "example/prosody:1"


def target(engine: FakeDockerClient, **options) -> DockerTarget:
    options.setdefault("image", IMAGE)
    return DockerTarget(Profile(), str(PROJECT_MODULES), docker_client=engine, **options)


def exited_pid() -> int:
    """The pid of a process that has ended (and was reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_container_that_exits_reports_its_status_and_output():
    engine = FakeDockerClient(exit_output=b"lua5.4: cannot open prosody.cfg.lua\n")
    server = target(engine)
    with pytest.raises(TargetError) as caught:
        server.start()
    message = str(caught.value)
    assert "prosody exited with status 1 while starting" in message
    assert "cannot open prosody.cfg.lua" in message
    assert engine.containers.all == [] and server.directory is None


def test_container_that_never_gets_ready_is_given_up_at_the_bound():
    engine = FakeDockerClient(container_kind="silent")
    server = target(engine, ready_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(TargetError, match="not ready within 0.3 s"):
        server.start()
    assert time.monotonic() - started < 2
    assert engine.containers.all == []


def test_a_missing_image_is_pulled_and_a_failed_pull_is_clear():
    engine = FakeDockerClient(local_images=set())
    with pytest.raises(TargetError, match="exited"):
        target(engine).start()
    assert engine.images.pulled == [IMAGE]

    failing = FakeDockerClient(local_images=set(), pull_fails=True)
    with pytest.raises(TargetError, match=f"cannot pull image {IMAGE}"):
        target(failing).start()
    assert failing.containers.run_calls == []


def test_the_container_mounts_the_run_directory_and_modules_at_their_own_paths():
    engine = FakeDockerClient()
    with pytest.raises(TargetError):
        target(engine).start()
    image, options = engine.containers.run_calls[0]
    assert image == IMAGE
    assert options["network_mode"] == "host" and options["ports"] == {}
    volumes = options["volumes"]
    run_dir = next(path for path, mount in volumes.items() if mount["mode"] == "rw")
    assert volumes[run_dir] == {"bind": run_dir, "mode": "rw"}
    modules = str(PROJECT_MODULES)
    assert volumes[modules] == {"bind": modules, "mode": "ro"}
    # Besides: the mocks' certificates, read-only, once this process made any.
    assert all(mount["mode"] == "ro" for path, mount in volumes.items() if path != run_dir)
    assert options["command"] == ["prosody", "--config", f"{run_dir}/prosody.cfg.lua", "-F"]
    assert options["labels"][OWNER_PID_LABEL] == str(os.getpid())


def test_bridge_networking_publishes_both_ports_on_loopback_only():
    engine = FakeDockerClient()
    server = target(engine, network="bridge")
    server._gateway = "10.88.0.1"  # the fake has no networks
    assert server.backend_host == "10.88.0.1"
    with pytest.raises(TargetError):
        server.start()
    _, options = engine.containers.run_calls[0]
    assert options["network_mode"] is None
    assert sorted(options["ports"].values()) == sorted(
        [("127.0.0.1", server.c2s_port), ("127.0.0.1", server.http_port)]
    )


def test_containers_of_dead_owners_are_removed_even_when_others_race_us():
    engine = FakeDockerClient()
    here = socket.gethostname()

    def leftover(host: str, pid: int):
        labels = {LABEL: "1", OWNER_HOST_LABEL: host, OWNER_PID_LABEL: str(pid)}
        return engine.containers.run(IMAGE, detach=True, labels=labels)

    orphan = leftover(here, exited_pid())
    stubborn = leftover(here, exited_pid())
    stubborn.refusals = 2  # caught between running and stopped: refused, then removed
    raced = leftover(here, exited_pid())
    engine.vanish_while_listing = [raced]  # removed by its owner's neighbour meanwhile
    alive = leftover(here, os.getppid())
    elsewhere = leftover("another-machine", exited_pid())
    with pytest.raises(TargetError, match="exited"):
        target(engine).start()
    assert orphan.removed and stubborn.removed and raced.removed
    assert not alive.removed and not elsewhere.removed
    assert engine.containers.list_calls[0]["sparse"] is True  # no inspection per container


def test_no_engine_is_a_clear_error(monkeypatch, tmp_path):
    import harness.containers.engine as engine_module

    monkeypatch.setattr(engine_module, "_engine", None)
    monkeypatch.setattr(engine_module, "_failure", None)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(TargetError, match="cannot reach a container engine: .*does not answer"):
        DockerTarget(Profile(), str(PROJECT_MODULES)).start()


def test_bad_input_fails_before_touching_the_engine(tmp_path):
    engine = FakeDockerClient()
    with pytest.raises(TargetError, match="does not exist"):
        DockerTarget(Profile(), str(tmp_path / "nope"), docker_client=engine).start()
    with pytest.raises(TargetError, match="invalid profile"):
        DockerTarget(
            Profile(options={"http_ports": [1]}), str(tmp_path), image=IMAGE, docker_client=engine
        ).start()
    with pytest.raises(TargetError, match="not started"):
        DockerTarget(Profile(), docker_client=engine).create_user("a", "localhost", "pw")
    with pytest.raises(TargetError, match="docker network 'overlay'"):
        DockerTarget(Profile(), network="overlay", docker_client=engine)
    assert engine.containers.run_calls == []
