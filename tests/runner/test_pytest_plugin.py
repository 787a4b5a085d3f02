"""The pytest plugin as a user meets it, in a pytest of its own: the `sandbox` fixture for
module unit tests, and `--target all` (docker skipped with its reason, verdicts that differ
between targets failing the session)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfs"]


def pytest_in(directory: Path, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [*PYTEST, *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_the_sandbox_fixture_runs_a_project_module_with_the_test_s_profile(tmp_path):
    # A module unit test as a user writes it: override sandbox_profile, use sandbox.
    (tmp_path / "test_block_subscriptions.py").write_text(
        textwrap.dedent("""\
        import pytest
        from harness.profile import Profile, VirtualHostProfile
        from harness.target import ReceiveTimeout

        @pytest.fixture
        def sandbox_profile():
            return Profile(hosts={"localhost": VirtualHostProfile(
                "localhost", modules_enabled=["block_subscriptions"])})

        def test_subscription_requests_are_dropped_messages_pass(sandbox):
            for user in ("john", "marie"):
                sandbox.create_user(user, "localhost", "pw")
            john = sandbox.connect("john@localhost", "pw")
            marie = sandbox.connect("marie@localhost", "pw")
            john.send('<presence to="marie@localhost" type="subscribe"/>')
            john.send(f'<message to="{marie.jid}"><body>hi</body></message>')
            got = marie.receive(lambda e: e.tag.endswith("message"), timeout=2)
            assert got.findtext("{jabber:client}body") == "hi"
            with pytest.raises(ReceiveTimeout):
                marie.receive(lambda e: e.get("type") == "subscribe", timeout=0.2)
            loaded = sandbox.lua_eval(
                "return prosody.hosts.localhost.modules.block_subscriptions ~= nil")
            assert loaded is True
        """)
    )
    # Elsewhere the default profile applies: localhost with the base modules only.
    (tmp_path / "test_default_profile.py").write_text(
        textwrap.dedent("""\
        def test_the_default_profile_loads_no_project_module(sandbox_modules_dir, sandbox):
            assert sandbox_modules_dir is None  # lua_modules/, as without --modules
            assert sandbox.lua_eval(
                "return prosody.hosts.localhost.modules.block_subscriptions == nil")
            assert sandbox.lua_eval("return prosody.hosts.localhost.modules.roster ~= nil")
        """)
    )
    done = pytest_in(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


# A module whose answer depends on where it runs: a real cause of differing verdicts.
BACKEND_NAME_MODULE = """\
local st = require "util.stanza";
local server = require "net.server";

module:hook("message/host", function(event)
	module:send(st.reply(event.stanza):tag("body"):text(server.get_backend()));
	return true;
end);
"""

ASKS_THE_BACKEND = """\
name: the server says it is the sandbox
prosody:
  modules_enabled: [backend_name]
clients:
  john: {jid: john@localhost, password: pw}
steps:
  - john connects
  - john sends: <message to="localhost" id="q"><body>which?</body></message>
  - john receives: <message from="localhost"><body>sandbox</body></message>
    timeout: 1
"""


@pytest.mark.prosody
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["in-process", "xdist"])
def test_target_all_skips_docker_with_its_reason_and_fails_on_differing_verdicts(tmp_path, workers):
    modules = tmp_path / "modules" / "mod_backend_name"
    modules.mkdir(parents=True)
    (modules / "mod_backend_name.lua").write_text(BACKEND_NAME_MODULE)
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "backend_name.yaml").write_text(ASKS_THE_BACKEND)
    # An engine that does not answer, as on a machine without one.
    nowhere = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    # Under xdist the sandbox and prosody verdicts may come from different workers: the
    # controller still compares them.
    done = pytest_in(
        tmp_path,
        "scenarios",
        "--target",
        "all",
        "--modules",
        str(modules.parent),
        *workers,
        env=nowhere,
    )
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "1 failed, 1 passed, 1 skipped" in out
    assert "the docker target is not available here: cannot reach a container engine" in out
    assert "FAILED scenarios/backend_name.yaml::the server says it is the sandbox[prosody]" in out
    section = out.split("scenario verdicts differ between targets")[1]
    # Verdicts are compared within one Prosody version, which the line names.
    assert "backend_name.yaml::the server says it is the sandbox (Prosody 0.12.3): " in section
    assert "prosody=failed" in section
    assert "sandbox=passed" in section
