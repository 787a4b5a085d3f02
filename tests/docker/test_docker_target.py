"""DockerTarget against a fake docker client (no Docker engine on these machines).

What this verifies: the SDK calls DockerTarget makes (image, entrypoint and command,
read-only mounts, ports published on 127.0.0.1 only, owner labels, exec of prosodyctl,
stop and removal with volumes), that the generated container config runs on a real
Prosody 0.12 once the fake maps its container paths and ports, the readiness logic, log
parsing of the stdout sink, and the failure paths. What it cannot verify: the real
image's contents and entrypoint, Docker's own port publishing and bind mounts, file
permissions inside the container, and pulling from a registry.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import docker
import pytest
from fake_docker import FakeDockerClient

from harness import stanza
from harness.profile import Profile, VirtualHostProfile
from harness.target import TargetError
from harness.targets.docker import (
    CONTAINER_CONFIG,
    CONTAINER_CONFIG_DIR,
    CONTAINER_MODULES_DIR,
    DEFAULT_IMAGE,
    LABEL,
    OWNER_HOST_LABEL,
    OWNER_PID_LABEL,
    DockerTarget,
)
from harness.targets.prosody import REPO_LUA_MODULES

needs_prosody = pytest.mark.skipif(shutil.which("prosody") is None, reason="no prosody")
PROBE_MODULES = str(Path(__file__).parents[1] / "prosody" / "modules")


@pytest.fixture
def lua_modules(tmp_path) -> str:
    """A modules directory that exists whether or not lua_modules/ does yet."""
    return str(REPO_LUA_MODULES if REPO_LUA_MODULES.is_dir() else tmp_path)


def exited_pid() -> int:
    """The pid of a process that has ended (and was reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.prosody
@needs_prosody
def test_runs_the_official_image_with_read_only_mounts_and_loopback_ports(lua_modules):
    engine = FakeDockerClient()
    target = DockerTarget(Profile(), modules_dir=lua_modules, docker_client=engine)
    target.start()
    try:
        ((image, options),) = engine.containers.run_calls
        assert image == DEFAULT_IMAGE == "prosodyim/prosody:0.12"
        assert options["entrypoint"] == ["prosody"]
        assert options["command"] == ["--config", CONTAINER_CONFIG, "-F"]
        assert options["detach"] is True
        mounts = {spec["bind"]: (host, spec["mode"]) for host, spec in options["volumes"].items()}
        assert mounts[CONTAINER_MODULES_DIR] == (str(Path(lua_modules).resolve()), "ro")
        config_dir, mode = mounts[CONTAINER_CONFIG_DIR]
        assert mode == "ro" and Path(config_dir) == target.directory
        assert options["ports"] == {
            "5222/tcp": ("127.0.0.1", None),
            "5280/tcp": ("127.0.0.1", None),
        }
        assert options["labels"][LABEL] == "1"
        assert options["labels"][OWNER_PID_LABEL].isdigit()

        config = (target.directory / "prosody.cfg.lua").read_text()
        assert 'interfaces = { "*" }' in config  # inside the container; Docker publishes
        assert f'plugin_paths = {{ "{CONTAINER_MODULES_DIR}" }}' in config
        assert '"to" ' not in config and 'to = "stdout"' in config
        assert target.c2s_port and target.http_port and target.c2s_port != 5222
    finally:
        target.stop()


@pytest.mark.prosody
@needs_prosody
def test_users_clients_http_and_log_through_the_container(lua_modules):
    engine = FakeDockerClient()
    with DockerTarget(Profile(), modules_dir=lua_modules, docker_client=engine) as target:
        (container,) = engine.containers.all
        target.create_user("ann", "localhost", "pw")
        target.create_user("bob", "localhost", "pw")
        assert (
            "exec_run",
            (
                ["prosodyctl", "--config", CONTAINER_CONFIG, "register", "ann", "localhost", "pw"],
                "root",
            ),
        ) in container.calls

        ann = target.connect("ann@localhost", "pw")
        bob = target.connect("bob@localhost", "pw")
        ann.send(f'<message to="{bob.jid}" id="m1"><body>through the container</body></message>')
        got = bob.receive(lambda e: e.get("id") == "m1")
        assert got.findtext(f"{{{stanza.CLIENT_NS}}}body") == "through the container"
        assert target.http("GET", "/").status == 200

        lines = target.log()
        assert any(line.message.startswith("Hello and welcome to Prosody") for line in lines)
        assert any(line.source == "portmanager" and "]:5222" in line.message for line in lines)
        assert target.error_lines() == []
        prosody_pid = container.pid

    assert container.removed
    assert ("remove", {"force": True, "v": True}) in container.calls
    assert engine.containers.all == []
    assert target.directory is None
    assert subprocess.run(["kill", "-0", str(prosody_pid)], capture_output=True).returncode != 0
    assert any("Shutdown complete" in line.message for line in target.log())
    target.stop()  # idempotent


@pytest.mark.prosody
@needs_prosody
def test_missing_module_fails_start_and_removes_the_container():
    engine = FakeDockerClient()
    profile = Profile(hosts={"localhost": VirtualHostProfile("localhost", ["no_such_thing"])})
    target = DockerTarget(profile, modules_dir=PROBE_MODULES, docker_client=engine)
    with pytest.raises(TargetError, match="Unable to load module 'no_such_thing'"):
        target.start()
    assert engine.containers.all == []
    assert target.directory is None


def test_container_that_exits_reports_its_status_and_log_tail(lua_modules):
    engine = FakeDockerClient(
        container_kind="exits",
        exit_logs=b"Nov 22 03:00:00 startup\tinfo\tHello and welcome to Prosody version 0.12.4\n"
        b"Nov 22 03:00:00 general\terror\tsomething went wrong\n",
    )
    target = DockerTarget(Profile(), modules_dir=lua_modules, docker_client=engine)
    with pytest.raises(TargetError) as caught:
        target.start()
    message = str(caught.value)
    assert "the container exited with status 1 while starting" in message
    assert "general\terror\tsomething went wrong" in message
    assert engine.containers.all == []


def test_container_that_never_gets_ready_is_given_up_at_the_bound(lua_modules):
    engine = FakeDockerClient(container_kind="silent")
    target = DockerTarget(
        Profile(), modules_dir=lua_modules, docker_client=engine, ready_timeout=0.3
    )
    started = time.monotonic()
    with pytest.raises(TargetError, match="not ready within 0.3 s"):
        target.start()
    assert time.monotonic() - started < 2
    assert engine.containers.all == []


def test_missing_image_is_pulled_and_pull_failure_is_clear(lua_modules):
    engine = FakeDockerClient(container_kind="exits", local_images=set())
    with pytest.raises(TargetError, match="exited"):
        DockerTarget(Profile(), modules_dir=lua_modules, docker_client=engine).start()
    assert engine.images.pulled == [DEFAULT_IMAGE]

    failing = FakeDockerClient(local_images=set(), pull_fails=True)
    target = DockerTarget(
        Profile(), modules_dir=lua_modules, image="example/prosody:9", docker_client=failing
    )
    with pytest.raises(TargetError, match="cannot pull image example/prosody:9"):
        target.start()
    assert failing.containers.run_calls == []


def test_containers_of_dead_owners_are_removed_at_start(lua_modules):
    engine = FakeDockerClient(container_kind="exits")
    here = socket.gethostname()

    def leftover(host: str, pid: int):
        return engine.containers.run(
            DEFAULT_IMAGE,
            detach=True,
            labels={LABEL: "1", OWNER_HOST_LABEL: host, OWNER_PID_LABEL: str(pid)},
        )

    orphan = leftover(here, exited_pid())
    alive = leftover(here, os.getppid())
    elsewhere = leftover("another-machine", exited_pid())
    with pytest.raises(TargetError):
        DockerTarget(Profile(), modules_dir=lua_modules, docker_client=engine).start()
    assert orphan.removed and not alive.removed and not elsewhere.removed


def test_no_engine_is_a_clear_error(monkeypatch, lua_modules):
    def unreachable():
        raise docker.errors.DockerException("Error while fetching server API version")

    monkeypatch.setattr(docker, "from_env", unreachable)
    with pytest.raises(TargetError, match="cannot reach the Docker engine"):
        DockerTarget(Profile(), modules_dir=lua_modules).start()


def test_bad_input_fails_before_touching_docker(tmp_path):
    engine = FakeDockerClient()
    with pytest.raises(TargetError, match="does not exist"):
        DockerTarget(Profile(), modules_dir=str(tmp_path / "nope"), docker_client=engine).start()
    with pytest.raises(TargetError, match="invalid profile"):
        DockerTarget(
            Profile(options={"http_ports": [1]}), modules_dir=str(tmp_path), docker_client=engine
        ).start()
    with pytest.raises(TargetError, match="not started"):
        DockerTarget(Profile(), docker_client=engine).create_user("a", "localhost", "pw")
    assert engine.containers.run_calls == []
