"""Scansion .scs scripts read into the scenario model."""

from __future__ import annotations

import pytest

from harness.scenario import ScenarioError, load_scenario

SCRIPT = """\
# Chat between two users
# They exchange a message.

[Client] Romeo
\tjid: romeo@localhost/garden
\tpassword: password

[Client] Juliet
\tjid: juliet@localhost
\tpassword: balcony

-----------

Romeo connects

Juliet connects

# a comment inside the script
Romeo sends:
\t<message to="${Juliet's full JID}" type="chat">
\t\t<body>Hello</body>
\t</message>

Juliet receives:
\t<message from="${Romeo's full JID}" id="{scansion:any}"/>
\t<presence/>

Juliet receives: nothing

Romeo disconnects
"""


def test_a_script_becomes_a_scenario(scenario_file):
    scenario = load_scenario(scenario_file("chat.scs", SCRIPT))
    assert scenario.name == "Chat between two users"
    assert scenario.description == "They exchange a message."
    assert scenario.clients["Romeo"].jid == "romeo@localhost"
    assert scenario.clients["Romeo"].resource == "garden"
    assert [(s.kind, s.actor, s.line) for s in scenario.steps] == [
        ("connect", "Romeo", 14),
        ("connect", "Juliet", 16),
        ("send", "Romeo", 19),
        ("receive", "Juliet", 24),
        ("receive_nothing", "Juliet", 28),
        ("disconnect", "Romeo", 30),
    ]
    assert len(scenario.steps[3].params["stanzas"]) == 2  # both, in any order
    assert "<body>Hello</body>" in scenario.steps[2].params["stanza"]


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (("Romeo disconnects", "Romeo dances"), 30, "not a scansion action"),
        (("Romeo disconnects", "Mercutio disconnects"), 30, "unknown client 'Mercutio'"),
        (("\t<presence/>", "\t<presence>"), 24, "invalid XML"),
        (("\tpassword: password", "\tpasswd: password"), 6, "expected one of jid, password"),
    ],
)
def test_a_broken_script_is_rejected_with_its_line(scenario_file, change, line, message):
    path = scenario_file("bad.scs", SCRIPT.replace(*change))
    with pytest.raises(ScenarioError) as failure:
        load_scenario(path)
    assert (failure.value.line, message in str(failure.value)) == (line, True), str(failure.value)
