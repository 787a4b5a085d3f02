"""The scansion language read into scenarios: characters, actions, comments, variables,
and errors at the script's own file:line."""

from __future__ import annotations

import pytest

from harness.matching import SCANSION_NS
from harness.scenario import ScenarioError, load_scenario
from harness.scenario.placeholders import parse_name
from harness.stanza import parse

SCRIPT = """\
# Juliet and her phone
# Messages reach the resource they are sent to.
## slow
## status: stable

[Client] Romeo
\tjid: romeo@localhost
\tpassword: password

[Client] Juliet's phone
\tpassword: password
\tjid: juliet@localhost/phone
\tconnect_host: xmpp.example.com
\tconnect_port: 5222

[Client] Juliet
\tjid: juliet@localhost
\tpassword: password
\tresource: laptop

-----------------
// a C-style comment
-- a Lua-style comment

Romeo connects
Juliet's phone connects

# sends without a colon, the stanza below
Romeo sends
\t<message to="${Juliet's phone's full JID}" type="chat">
\t\t<body>Hi</body>
\t</message>

Juliet's phone receives:
\t<message from="${Romeo's full JID}" to="${Juliet's phone's full JID}">
\t\t<x xmlns="urn:example" scansion:strict="false"/>
\t</message>

Juliet's phone receives: <presence/>

Romeo sends: <presence to="${Juliet's JID}"/>

# several stanzas: sent in turn
Romeo sends:
\t<presence/>
\t<presence type="unavailable"/>

Romeo receives:
\t<presence/>
\t<presence type="unavailable"/>

Romeo receives: nothing
Romeo receives nothing

Juliet's phone disconnects
"""


def test_a_script_becomes_a_scenario_in_scansions_dialect(write):
    scenario = load_scenario(write("chat.scs", SCRIPT))
    assert scenario.name == "Juliet and her phone"
    assert scenario.description == "Messages reach the resource they are sent to."
    assert scenario.tags == ["slow", "status: stable"]
    assert scenario.matching == "scansion"
    phone = scenario.clients["Juliet's phone"]
    assert (phone.jid, phone.resource, phone.password) == ("juliet@localhost", "phone", "password")
    assert scenario.clients["Juliet"].resource == "laptop"
    assert [(s.kind, s.actor, s.line) for s in scenario.steps] == [
        ("connect", "Romeo", 25),
        ("connect", "Juliet's phone", 26),
        ("send", "Romeo", 29),
        ("receive", "Juliet's phone", 34),
        ("receive", "Juliet's phone", 39),
        ("send", "Romeo", 41),
        ("send", "Romeo", 44),
        ("send", "Romeo", 44),
        ("receive", "Romeo", 48),
        ("receive_nothing", "Romeo", 52),
        ("receive_nothing", "Romeo", 53),
        ("disconnect", "Juliet's phone", 55),
    ]
    assert len(scenario.steps[8].params["stanzas"]) == 2  # both, in any order
    assert "<body>Hi</body>" in scenario.steps[2].params["stanza"]


def test_the_scansion_prefix_needs_no_declaration(write):
    scenario = load_scenario(write("chat.scs", SCRIPT))
    pattern = parse(scenario.steps[3].params["stanzas"][0])
    assert pattern.find("{urn:example}x").get(f"{{{SCANSION_NS}}}strict") == "false"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Romeo's JID", ("Romeo", "jid")),
        ("Romeo's full JID", ("Romeo", "full_jid")),
        ("Romeo's resource", ("Romeo", "resource")),
        ("Juliet's phone's full JID", ("Juliet's phone", "full_jid")),
        ("Juliet's phone's JID", ("Juliet's phone", "jid")),
    ],
)
def test_variables_name_a_client_and_a_field(text, expected):
    assert parse_name(text) == expected


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (("Romeo sends: <presence to", "Romeo dances: <presence to"), 41, "not a scansion action"),
        (("Juliet's phone disconnects", "Mercutio disconnects"), 55, "unknown client 'Mercutio'"),
        (("\t\t<body>Hi</body>", "\t\t<body>Hi</bdy>"), 31, "invalid XML in 'Romeo sends'"),
        (
            (
                '\t<presence type="unavailable"/>\n\nRomeo receives:',
                '\t<presence type="unavailable">\n\nRomeo receives:',
            ),
            44,
            "invalid XML",
        ),
        (
            (
                "\tpassword: password\n\n[Client] Juliet's",
                "\tpasswd: password\n\n[Client] Juliet's",
            ),
            8,
            "expected one of jid, password, resource",
        ),
        (("[Client] Juliet\n", "[Bot] Juliet\n"), 16, "unknown character class [Bot]"),
        (("\tjid: romeo@localhost\n", ""), 6, "[Client] Romeo needs a jid"),
        (
            ("Juliet's phone connects", "  Juliet's phone connects"),
            26,
            "indented line outside a block",
        ),
        (
            ("Romeo receives nothing", 'Romeo receives: <presence from="${Nobody\'s JID}"/>'),
            53,
            "'Nobody' is not a backend, a client",
        ),
        (("\tresource: laptop", "\tresource: laptop\n\tjid: juliet@localhost"), 20, "given twice"),
    ],
)
def test_a_broken_script_is_rejected_with_its_file_and_line(write, change, line, message):
    assert change[0] in SCRIPT
    path = write("bad.scs", SCRIPT.replace(*change))
    with pytest.raises(ScenarioError) as failure:
        load_scenario(path)
    assert failure.value.file == str(path)
    assert (failure.value.line, message in str(failure.value)) == (line, True), str(failure.value)


def test_a_full_jid_and_a_different_resource_line_disagree(write):
    text = SCRIPT.replace(
        "\tjid: juliet@localhost/phone\n", "\tjid: juliet@localhost/phone\n\tresource: tablet\n"
    )
    with pytest.raises(ScenarioError, match="differs from the one in its jid"):
        load_scenario(write("bad.scs", text))


def test_a_script_without_a_title_is_named_after_its_file(write):
    scenario = load_scenario(
        write(
            "no_title.scs",
            """\
        [Client] Romeo
        \tjid: romeo@localhost
        \tpassword: pw
        Romeo connects
        """,
        )
    )
    assert scenario.name == "no_title"
    assert scenario.tags == []
