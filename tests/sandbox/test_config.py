"""The sandbox configures Prosody from the same ResolvedConfig as the real targets, adding
only its own overrides; a profile it cannot honour reads the same as on the others."""

from __future__ import annotations

import math

import pytest

from harness.profile import ComponentProfile, Profile, VirtualHostProfile
from harness.prosody_config import ConfigError, ServerLayout, render_config
from harness.sandbox import Sandbox
from harness.sandbox.config import NOT_IN_SANDBOX, boot_config, sandbox_config
from harness.target import TargetError
from harness.targets import create_target

LAYOUT = ServerLayout("/d", "/p", "/c", ["/m"], 1, 2, "/l")

BAD_PROFILES = [
    Profile(options={"c2s_ports": [5222]}),
    Profile(options={"log": "x", "data_path": "/"}),
    Profile(hosts={"localhost": VirtualHostProfile("localhost", options={"http_ports": [1]})}),
    Profile(hosts={"localhost": VirtualHostProfile("localhost", options={"modules_enabled": []})}),
    Profile(components={"rooms.test": ComponentProfile("rooms.test", options={"pidfile": "x"})}),
    Profile(hosts={}),
    Profile(options={"bad": [1, None]}),
    Profile(options={"nan": math.nan}),
    Profile(hosts={"localhost": VirtualHostProfile("localhost", options={"raw": b"bytes"})}),
]


@pytest.mark.parametrize("profile", BAD_PROFILES)
def test_a_bad_profile_reads_the_same_as_on_the_real_targets(profile):
    with pytest.raises(ConfigError) as real:
        render_config(profile, LAYOUT)
    with pytest.raises(TargetError) as sandbox:
        create_target("sandbox", profile).start()
    # Word for word what the prosody and docker targets say (harness/targets/prosody.py).
    assert str(sandbox.value) == f"invalid profile: {real.value}"
    with pytest.raises(TargetError, match="^invalid profile: "):
        Sandbox(profile).start()


def test_the_sandbox_adds_only_its_own_settings():
    profile = Profile(
        hosts={
            "localhost": VirtualHostProfile(
                "localhost", modules_enabled=["posix", "rest"], modules_disabled=["ping"]
            )
        },
        components={"rooms.localhost": ComponentProfile("rooms.localhost", "muc")},
        options={"default_iteration_count": 10000},
    )
    config = sandbox_config(profile)
    assert config.options["default_storage"] == "memory"
    assert config.options["default_iteration_count"] == 10000  # the profile's wins
    rooms = config.components["rooms.localhost"].options
    for section in (config.options, config.hosts["localhost"], rooms):
        assert set(NOT_IN_SANDBOX) <= set(section["modules_disabled"])
    host = config.hosts["localhost"]
    assert "posix" not in host["modules_enabled"] and "rest" in host["modules_enabled"]
    assert "ping" in host["modules_disabled"]
    booted = boot_config(config, 4321, "/data")
    assert booted["global"]["http_ports"] == [4321] and booted["global"]["c2s_ports"] == []
    assert booted["global"]["data_path"] == "/data"
    assert booted["components"]["rooms.localhost"]["module"] == "muc"
    assert booted["hosts"]["localhost"] is host


def test_the_sandbox_runs_what_the_resolved_config_says():
    profile = Profile(
        hosts={"localhost": VirtualHostProfile("localhost", modules_disabled=["ping"])},
        options={"probe_flag": True},
    )
    with Sandbox(profile) as box:
        assert box.lua_eval('return require"core.configmanager".get("localhost", "probe_flag")')
        assert box.lua_eval("return prosody.hosts.localhost.modules.ping == nil")
        assert box.lua_eval("return prosody.hosts.localhost.modules.disco ~= nil")
        assert not box.lua_eval('return require"core.modulemanager".is_loaded("*", "posix")')
