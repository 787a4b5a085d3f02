"""A folder's own prosody.cfg.lua: read by Prosody's parser, run as it is with only the
settings the harness owns, the same on every target."""

from __future__ import annotations

from pathlib import Path

import pytest
from scansion_helpers import messages, run, verdicts

from harness.lua_config import LuaConfigError, read_lua_config
from harness.prosody_config import ServerLayout, render_config, resolve
from harness.prosody_install import resolve_prosody
from harness.runner import FAILED, PASSED
from harness.scenario import ScenarioError, load_scenario, load_scenarios

CONFIG = """\
-- A suite's own config, in Prosody's language.
authentication = "insecure"
insecure_open_authentication = "Yes please, I know what I'm doing!"
storage = "memory"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
modules_enabled = { "roster", "saslauth", "disco", "ping", "server_contact_info", "mam" }
modules_disabled = { "s2s" }
plugin_paths = { "plugins" }
pidfile = "suite.pid" -- the harness's own replace these three
log = { "*console" }
c2s_ports = { 5222 }

Include "contacts.cfg.lua" -- found beside this file

VirtualHost "localhost"

Component "rooms.localhost" "muc"
	restrict_room_creation = false
"""

CONTACTS = """\
local admin = (ENV_SUITE_ADMIN or "nobody"):lower()
contact_info = { admin = { "xmpp:"..admin.."@localhost" }; abuse = { "mailto:abuse@localhost" } }
"""

HEADER = """\
[Client] Romeo
\tjid: romeo@localhost
\tpassword: any password at all

-----

Romeo connects

"""

SCRIPTS = {
    # Options computed by the config's own code, from an included file and ENV_*.
    "contacts.scs": """\
Romeo sends:
\t<iq type="get" id="info" to="localhost"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>

Romeo receives:
\t<iq type="result" id="info">
\t\t<query xmlns="http://jabber.org/protocol/disco#info" scansion:strict="false">
\t\t\t<x xmlns="jabber:x:data" type="result" scansion:strict="false">
\t\t\t\t<field var="abuse-addresses"><value>mailto:abuse@localhost</value></field>
\t\t\t\t<field var="admin-addresses"><value>xmpp:mercutio@localhost</value></field>
\t\t\t</x>
\t\t</query>
\t</iq>
""",
    # Its components load.
    "rooms.scs": """\
Romeo sends:
\t<presence to="garden@rooms.localhost/romeo"><x xmlns="http://jabber.org/protocol/muc"/></presence>

Romeo receives:
\t<presence from="garden@rooms.localhost/romeo">
\t\t<x xmlns="http://jabber.org/protocol/muc#user" scansion:strict="false">
\t\t\t<status code="201"/>
\t\t</x>
\t</presence>
""",
}


@pytest.fixture
def suite(write, monkeypatch):
    monkeypatch.setenv("SUITE_ADMIN", "Mercutio")
    write("suite/prosody.cfg.lua", CONFIG)
    write("suite/contacts.cfg.lua", CONTACTS)
    (write("suite/plugins/.keep", "")).parent.mkdir(exist_ok=True)
    for name, body in SCRIPTS.items():
        write(f"suite/{name}", HEADER + body)
    return Path(write("suite/.keep", "")).parent


def test_the_folders_config_is_the_profile_of_its_scripts(suite):
    scenario = load_scenario(suite / "rooms.scs")
    assert scenario.prosody == {"config_file": str((suite / "prosody.cfg.lua").resolve())}
    assert scenario.shared_server is False  # its names are the config's: never renamed


def test_a_scenario_beside_a_config_cannot_add_a_profile(suite, write):
    path = write(
        "suite/mine.yaml",
        """\
        name: with a profile of its own
        prosody: {modules_enabled: [ping]}
        clients: {romeo: {jid: romeo@localhost, password: pw}}
        steps: [romeo connects]
        """,
    )
    with pytest.raises(ScenarioError, match=r"mine.yaml:2: this folder's prosody.cfg.lua"):
        load_scenarios(path)


@pytest.mark.parametrize("series", ["0.12", "13"])
def test_prosodys_own_parser_reads_it(suite, series):
    config = read_lua_config(str(suite / "prosody.cfg.lua"), resolve_prosody(series).source_dir)
    assert list(config.hosts) == ["localhost"]
    assert config.components["rooms.localhost"]["component_module"] == "muc"
    assert config.options["contact_info"]["admin"] == ["xmpp:mercutio@localhost"]
    assert config.options["contact_info"]["abuse"] == ["mailto:abuse@localhost"]


def test_a_config_that_does_not_load_says_where(write):
    path = write("broken/prosody.cfg.lua", 'VirtualHost "localhost"\nmodules_enabled = {\n')
    with pytest.raises(LuaConfigError, match=r"prosody.cfg.lua:3:"):
        read_lua_config(str(path), resolve_prosody("13").source_dir)


def test_the_harness_replaces_only_what_it_owns(suite, tmp_path):
    config = resolve(_profile(suite), source_dir=resolve_prosody("13").source_dir)
    layout = ServerLayout(
        str(tmp_path / "data"),
        str(tmp_path / "p.pid"),
        str(tmp_path / "c"),
        ["/lua_modules"],
        40001,
        40002,
        str(tmp_path / "p.log"),
    )
    text = render_config(config, layout)
    assert f'Include "{(suite / "prosody.cfg.lua").resolve()}"' in text
    owned = text.split("-- Owned by the harness", 1)[1]
    assert "\nc2s_ports = { 40001 }\n" in owned
    assert f'\npidfile = "{tmp_path / "p.pid"}"\n' in owned
    plugins = owned.split("plugin_paths = ", 1)[1].split("}", 1)[0]
    assert '"/lua_modules"' in plugins and f'"{suite.resolve() / "plugins"}"' in plugins
    assert "authentication" not in owned and "storage" not in owned  # the suite's, untouched


def _profile(suite: Path):
    from harness.scenario import build_profile

    return build_profile(load_scenario(suite / "rooms.scs").prosody)


@pytest.mark.parametrize("series", ["0.12", "13"])
def test_the_suite_runs_alike_on_real_prosody_and_the_sandbox(suite, series):
    report = run([suite], targets=("sandbox", "prosody"), prosody=series)
    assert set(verdicts(report).values()) == {PASSED}, messages(report)
    assert len(report.results) == 2 * len(SCRIPTS)


CLOCK_CONFIG = """\
-- Prosody 0.12's own test config fixed the clock this way; Prosody 13's launcher loads
-- util.time before it reads the config, so there it changes nothing.
Lua.package.preload["util.time"] = function ()
\treturn { now = function () return 1219439344; end; monotonic = Lua.os.clock };
end
authentication = "insecure"
insecure_open_authentication = "Yes please, I know what I'm doing!"
storage = "memory"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
modules_enabled = { "roster", "saslauth", "disco", "mam" }
modules_disabled = { "s2s" }
VirtualHost "localhost"
"""

CLOCK_SCRIPT = (
    HEADER
    + """\
Romeo sends:
\t<iq type="set" id="prefs"><prefs xmlns="urn:xmpp:mam:2" default="always"/></iq>

Romeo receives:
\t<iq type="result" id="prefs"/>

Romeo sends:
\t<message to="juliet@localhost" type="chat" id="m1"><body>Hi</body></message>

Romeo sends:
\t<iq type="set" id="q1"><query xmlns="urn:xmpp:mam:2" queryid="q1"/></iq>

Romeo receives:
\t<message>
\t\t<result xmlns="urn:xmpp:mam:2" queryid="q1" id="{scansion:any}">
\t\t\t<forwarded xmlns="urn:xmpp:forward:0">
\t\t\t\t<delay xmlns="urn:xmpp:delay" stamp="2008-08-22T21:09:04Z"/>
\t\t\t\t<message xmlns="jabber:client" scansion:strict="false"/>
\t\t\t</forwarded>
\t\t</result>
\t</message>
"""
)


def test_lua_in_the_config_runs_as_in_prosody_13_clock_included(write):
    """The sandbox reads the config where Prosody 13's launcher does: after util.time,
    so the config's fixed clock is not the one MAM stamps with, on either target."""
    write("clock/prosody.cfg.lua", CLOCK_CONFIG)
    path = write("clock/clock.scs", CLOCK_SCRIPT)
    report = run([path], targets=("sandbox", "prosody"), prosody="13")
    assert set(verdicts(report).values()) == {FAILED}
    for message in messages(report).values():
        assert "stamp is '20" in message and "expected '2008-08-22T21:09:04Z'" in message
