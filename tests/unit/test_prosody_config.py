"""Rendering Profiles into prosody.cfg.lua, checked by running the text in real Lua (lupa).

The Lua side mimics the parts of Prosody's config loader the text relies on: option
assignments land in the global section until `VirtualHost`/`Component` open a block that
takes an options table.

Over 400 lines: many small tests sharing the Lua loader above.
"""

from __future__ import annotations

import math

import pytest
from lupa import lua54

from harness.profile import BASE_HOST_MODULES, ComponentProfile, Profile, VirtualHostProfile
from harness.prosody_config import (
    DEFAULT_GLOBAL_OPTIONS,
    ConfigError,
    ResolvedConfig,
    ServerLayout,
    host_modules,
    http_enabled,
    lua_key,
    lua_string,
    lua_value,
    render_config,
    resolve,
)

LOADER = """
return function(text)
	local sections = { ["*"] = {} }
	local kinds = {}
	local env = setmetatable({}, { __newindex = function(_, k, v) sections["*"][k] = v end })
	rawset(env, "math", math)
	rawset(env, "VirtualHost", function(name)
		kinds[name] = "host"
		return function(options) sections[name] = options end
	end)
	rawset(env, "Component", function(name)
		kinds[name] = "component"
		return function(module_or_options)
			if type(module_or_options) == "string" then
				return function(options)
					options.component_module = module_or_options
					sections[name] = options
				end
			end
			sections[name] = module_or_options
		end
	end)
	local chunk = assert(load(text, "=cfg", "t", env))
	chunk()
	return sections, kinds
end
"""


def to_python(value):
    """Lua tables back to dicts/lists (a table with keys 1..n is a list)."""
    if lua54.lua_type(value) != "table":
        return value
    items = dict(value.items())
    if items and set(items) == set(range(1, len(items) + 1)):
        return [to_python(items[i]) for i in range(1, len(items) + 1)]
    return {k: to_python(v) for k, v in items.items()}


@pytest.fixture(scope="module")
def load_config():
    runtime = lua54.LuaRuntime(unpack_returned_tuples=True)
    loader = runtime.execute(LOADER)

    def load(text: str):
        sections, kinds = loader(text)
        return {k: to_python(v) for k, v in sections.items()}, dict(kinds.items())

    return load


@pytest.fixture(scope="module")
def eval_lua():
    runtime = lua54.LuaRuntime(unpack_returned_tuples=True)
    return lambda expression: to_python(runtime.eval(expression))


def layout(**changes) -> ServerLayout:
    values = dict(
        data_path="/tmp/x/data",
        pidfile="/tmp/x/prosody.pid",
        certificates="/tmp/x/certs",
        plugin_paths=["/repo/lua_modules"],
        c2s_port=41000,
        http_port=41001,
        log_file="/tmp/x/prosody.log",
    )
    values.update(changes)
    return ServerLayout(**values)


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        "",
        'quote " and back\\slash',
        "new\nline\r\ttab",
        "nul\0byte and \x01\x1f\x7f controls",
        "digit after escape: \x01" + "23",
        "non-ASCII: Grüße, 日本語, 🎉",
        "]] long-bracket closers [[ and [=[",
        "%s percent %d",
    ],
)
def test_strings_survive_a_round_trip_through_lua(eval_lua, text):
    assert eval_lua(lua_string(text)) == text.encode("utf-8").decode("utf-8")


def test_numbers_booleans_and_nested_tables_round_trip(eval_lua):
    value = {
        "int": 42,
        "negative": -7,
        "float": 2.5,
        "tiny": 1e-9,
        "yes": True,
        "no": False,
        "list": [1, "two", [3, {"four": 4}]],
        "nested": {"deeper": {"deepest": ["x"]}},
        "empty_list": [],
        "empty_map": {},
    }
    rendered = eval_lua(lua_value(value))
    assert rendered["int"] == 42 and rendered["negative"] == -7
    assert rendered["float"] == 2.5 and rendered["tiny"] == 1e-9
    assert rendered["yes"] is True and rendered["no"] is False
    assert rendered["list"] == [1, "two", [3, {"four": 4}]]
    assert rendered["nested"] == {"deeper": {"deepest": ["x"]}}
    # Lua cannot tell an empty list from an empty map; both are empty tables.
    assert lua_value([]) == "{}" and lua_value({}) == "{}"


def test_infinity_renders_as_math_huge(eval_lua):
    assert eval_lua(lua_value(math.inf)) == math.inf
    assert eval_lua(lua_value(-math.inf)) == -math.inf


def test_keys_that_are_not_identifiers_use_bracket_form(eval_lua):
    value = {"ok_name": 1, "with-dash": 2, "with space": 3, "end": 4, "1st": 5, 7: "seven"}
    assert lua_key("ok_name") == "ok_name"
    assert lua_key("with-dash") == '["with-dash"]'
    assert lua_key("end") == '["end"]'  # a Lua keyword
    assert lua_key(7) == "[7]"
    assert eval_lua(lua_value(value)) == {
        "ok_name": 1,
        "with-dash": 2,
        "with space": 3,
        "end": 4,
        "1st": 5,
        7: "seven",
    }


def test_none_in_a_map_is_left_out(eval_lua):
    assert eval_lua(lua_value({"kept": 1, "dropped": None})) == {"kept": 1}


@pytest.mark.parametrize(
    "bad, message",
    [
        ([1, None], "inside a list"),
        (math.nan, "NaN"),
        ({True: 1}, "booleans cannot be keys"),
        ({1.5: 1}, "strings or integers"),
        (b"bytes", "bytes"),
        (object(), "object"),
    ],
)
def test_values_lua_cannot_hold_are_refused(bad, message):
    with pytest.raises(ConfigError, match=message):
        lua_value(bad)


def test_default_profile_is_a_private_loopback_server(load_config):
    sections, kinds = load_config(render_config(Profile(), layout()))
    top = sections["*"]
    assert top["interfaces"] == ["127.0.0.1"]
    assert top["local_interfaces"] == ["127.0.0.1"]
    assert top["http_interfaces"] == ["127.0.0.1"]
    assert top["c2s_ports"] == [41000] and top["http_ports"] == [41001]
    for unused in ("s2s_ports", "https_ports", "c2s_direct_tls_ports"):
        assert top[unused] == {}  # an empty Lua table: no listener
    assert top["data_path"] == "/tmp/x/data" and top["pidfile"] == "/tmp/x/prosody.pid"
    assert top["certificates"] == "/tmp/x/certs"
    assert top["log"] == {"debug": "/tmp/x/prosody.log"}
    assert top["run_as_root"] is True
    assert top["c2s_require_encryption"] is False
    assert top["allow_unencrypted_plain_auth"] is True
    assert top["network_settings"] == {"nagle": False}
    assert top["http_default_host"] == "localhost"
    assert top["plugin_paths"] == ["/repo/lua_modules"]
    assert top["authentication"] == "internal_hashed"
    assert kinds == {"localhost": "host"}
    assert sections["localhost"]["modules_enabled"] == [*BASE_HOST_MODULES, "http"]


def test_host_modules_add_to_the_base_and_disabled_ones_are_removed(load_config):
    profile = Profile(
        hosts={
            "localhost": VirtualHostProfile(
                "localhost",
                modules_enabled=["http_roster_admin", "roster", "rest"],
                modules_disabled=["roster", "offline"],
                options={
                    "http_roster_url": "http://127.0.0.1:9/%s",
                    "storage": {"roster": "memory"},
                },
            ),
            "example.test": VirtualHostProfile("example.test"),
        }
    )
    sections, kinds = load_config(render_config(profile, layout()))
    local = sections["localhost"]
    assert "roster" not in local["modules_enabled"]
    assert local["modules_enabled"][-2:] == ["http_roster_admin", "rest"]
    assert local["modules_disabled"] == ["roster", "offline"]  # autoloaded ones too
    assert local["http_roster_url"] == "http://127.0.0.1:9/%s"
    assert local["storage"] == {"roster": "memory"}
    assert "modules_disabled" not in sections["example.test"]
    assert kinds == {"localhost": "host", "example.test": "host"}
    assert sections["*"]["http_default_host"] == "localhost"  # the first host


def test_components_get_their_module_modules_and_options(load_config):
    profile = Profile(
        components={
            "rooms.localhost": ComponentProfile(
                "rooms.localhost",
                module="muc",
                modules_enabled=["muc_http_auth", "muc_mam"],
                modules_disabled=["muc_mam"],
                options={
                    "muc_http_auth_url": "http://127.0.0.1:9/auth",
                    "restrict_room_creation": False,
                },
            ),
            "external.localhost": ComponentProfile(
                "external.localhost", module=None, options={"component_secret": "s3cret"}
            ),
        }
    )
    sections, kinds = load_config(render_config(profile, layout()))
    rooms = sections["rooms.localhost"]
    assert kinds["rooms.localhost"] == "component"
    assert rooms["component_module"] == "muc"
    assert rooms["modules_enabled"] == ["muc_http_auth"]
    assert rooms["modules_disabled"] == ["muc_mam"]
    assert rooms["muc_http_auth_url"] == "http://127.0.0.1:9/auth"
    assert rooms["restrict_room_creation"] is False
    external = sections["external.localhost"]
    assert "component_module" not in external
    assert external == {"component_secret": "s3cret"}


def test_global_options_override_defaults_and_odd_names_still_render(load_config):
    profile = Profile(
        options={"authentication": "internal_plain", "odd-name": [1, 2], "gone": None}
    )
    sections, _ = load_config(render_config(profile, layout()))
    assert sections["*"]["authentication"] == "internal_plain"
    assert sections["*"]["odd-name"] == [1, 2]
    assert "gone" not in sections["*"]


def test_stdout_logging_for_containers_uses_the_file_line_format(load_config):
    text = render_config(Profile(), layout(log_file=None, interfaces=["*"]))
    top = load_config(text)[0]["*"]
    assert top["log"] == [
        {"levels": {"min": "debug"}, "to": "stdout", "timestamps": True, "source_width": False}
    ]
    assert top["interfaces"] == ["*"]


@pytest.mark.parametrize(
    "profile, message",
    [
        (Profile(options={"c2s_ports": [5222]}), "c2s_ports is set by the harness"),
        (Profile(options={"log": "x", "data_path": "/"}), "data_path, log are set"),
        (
            Profile(
                hosts={"localhost": VirtualHostProfile("localhost", options={"http_ports": [1]})}
            ),
            "VirtualHost 'localhost': http_ports",
        ),
        (
            Profile(
                hosts={
                    "localhost": VirtualHostProfile("localhost", options={"modules_enabled": []})
                }
            ),
            "give modules_enabled as lists",
        ),
        (Profile(hosts={}), "no virtual host"),
        (Profile(options={"bad": [None]}), "inside a list"),
    ],
)
def test_profiles_the_harness_cannot_honour_are_refused_clearly(profile, message):
    with pytest.raises(ConfigError, match=message):
        render_config(profile, layout())


def test_host_modules_keep_order_and_drop_duplicates():
    assert host_modules(["a", "ping", "a"], ["disco"]) == [
        *[m for m in BASE_HOST_MODULES if m != "disco"],
        "http",
        "a",
    ]


def test_http_is_expected_unless_every_host_disables_it():
    assert http_enabled(Profile())
    off = Profile(hosts={"localhost": VirtualHostProfile("localhost", modules_disabled=["http"])})
    assert not http_enabled(off)


# -- the resolved configuration, which every target starts from ------------------------


def _profile() -> Profile:
    return Profile(
        hosts={
            "localhost": VirtualHostProfile(
                "localhost",
                modules_enabled=["rest"],
                modules_disabled=["ping"],
                options={"rest_url": "http://x/", "unset": None},
            )
        },
        components={
            "rooms.localhost": ComponentProfile(
                "rooms.localhost", "muc", ["muc_http_auth", "muc_mam"], ["muc_mam"], {"a": 1}
            ),
            "ext.localhost": ComponentProfile("ext.localhost", None),
        },
        options={"authentication": "internal_plain", "gone": None},
    )


def test_resolve_works_out_every_section_once():
    config = resolve(_profile())
    assert isinstance(config, ResolvedConfig)
    assert config.options == {
        **DEFAULT_GLOBAL_OPTIONS,
        "authentication": "internal_plain",
        "http_default_host": "localhost",
    }
    assert config.hosts["localhost"] == {
        "modules_enabled": [*[m for m in BASE_HOST_MODULES if m != "ping"], "http", "rest"],
        "modules_disabled": ["ping"],
        "rest_url": "http://x/",
    }
    rooms = config.components["rooms.localhost"]
    assert rooms.module == "muc"
    assert rooms.options == {
        "modules_enabled": ["muc_http_auth"],
        "modules_disabled": ["muc_mam"],
        "a": 1,
    }
    assert config.components["ext.localhost"].module is None
    assert config.components["ext.localhost"].options == {}
    assert config.default_host == "localhost" and config.http_enabled
    assert config.option("localhost", "rest_url") == "http://x/"
    assert config.option("localhost", "authentication") == "internal_plain"  # the global one
    assert config.option("rooms.localhost", "a") == 1


def test_render_config_writes_the_resolved_config(load_config):
    profile = _profile()
    assert render_config(resolve(profile), layout()) == render_config(profile, layout())
    sections, _ = load_config(render_config(profile, layout()))
    config = resolve(profile)
    assert sections["localhost"] == config.hosts["localhost"]
    assert {k: v for k, v in sections["*"].items() if k in config.options} == config.options


def test_resolve_takes_a_targets_own_defaults_under_the_profile():
    config = resolve(_profile(), {"default_storage": "memory", "authentication": "x"})
    assert config.options["default_storage"] == "memory"
    assert config.options["authentication"] == "internal_plain"


def test_without_modules_takes_them_out_everywhere():
    profile = Profile(
        hosts={"localhost": VirtualHostProfile("localhost", modules_enabled=["posix"])},
        components={"c.localhost": ComponentProfile("c.localhost", "muc", ["posix", "x"])},
        options={"modules_disabled": ["s2s"]},
    )
    config = resolve(profile).without_modules(["posix"])
    assert config.options["modules_disabled"] == ["s2s", "posix"]
    assert "posix" not in config.hosts["localhost"]["modules_enabled"]
    assert config.hosts["localhost"]["modules_disabled"] == ["posix"]
    assert config.components["c.localhost"].options["modules_enabled"] == ["x"]
    assert config.components["c.localhost"].options["modules_disabled"] == ["posix"]
    assert "modules_disabled" not in resolve(profile).hosts["localhost"]  # a copy was changed


@pytest.mark.parametrize(
    "profile, message",
    [
        (Profile(options={"x": [None]}), "global options: option x: None cannot appear"),
        (
            Profile(hosts={"h": VirtualHostProfile("h", options={"x": float("nan")})}),
            "VirtualHost 'h': option x: NaN",
        ),
        (
            Profile(components={"c": ComponentProfile("c", options={"": 1})}),
            "Component 'c': option name '' must be a non-empty string",
        ),
        (
            Profile(components={"c": ComponentProfile("c", options={"modules_disabled": []})}),
            "Component 'c': give modules_disabled as lists",
        ),
    ],
)
def test_resolve_says_where_a_value_is_wrong(profile, message):
    with pytest.raises(ConfigError, match=message):
        resolve(profile)


def test_http_is_expected_when_a_component_loads_it():
    profile = Profile(
        hosts={"localhost": VirtualHostProfile("localhost", modules_disabled=["http"])},
        components={"c.localhost": ComponentProfile("c.localhost", "muc", ["http"])},
    )
    assert http_enabled(profile)
    profile.components["c.localhost"].modules_disabled.append("http")
    assert not http_enabled(profile)
