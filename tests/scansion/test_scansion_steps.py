"""What scansion's actions do when they run, on the sandbox and on a real Prosody alike:
receives passes over stanzas that do not match, nothing counts what is left, sends waits
for the server to have read the stanza, a client gone quiet after disconnecting."""

from __future__ import annotations

import pytest
from scansion_helpers import messages, run, verdicts

from harness.runner import FAILED, PASSED

CLIENTS = """\
[Client] Romeo
\tjid: romeo@localhost
\tpassword: password

[Client] Juliet
\tjid: juliet@localhost
\tpassword: password

-----

Romeo connects
Juliet connects

"""

SCRIPTS = {
    # Juliet's own presence comes first and is passed over; it is gone afterwards.
    "passes_over.scs": (
        PASSED,
        """\
Juliet sends:
\t<presence/>

Romeo sends:
\t<message to="${Juliet's full JID}" type="chat"><body>Hi</body></message>

Juliet receives:
\t<message from="${Romeo's full JID}" type="chat"><body>Hi</body></message>

Juliet receives: nothing
""",
    ),
    # Several stanzas: any order.
    "any_order.scs": (
        PASSED,
        """\
Romeo sends:
\t<message to="${Juliet's full JID}" type="chat"><body>one</body></message>
\t<message to="${Juliet's full JID}" type="chat"><body>two</body></message>

Juliet receives:
\t<message><body>two</body></message>
\t<message><body>one</body></message>
""",
    ),
    # The answer to the harness's own wait after `sends` is never seen.
    "settled.scs": (
        PASSED,
        """\
Romeo sends:
\t<presence/>

Romeo receives:
\t<presence from="${Romeo's full JID}"/>

Romeo receives: nothing
""",
    ),
    # As in scansion: sending on a client that disconnected, or disconnecting it again,
    # does nothing.
    "after_disconnect.scs": (
        PASSED,
        """\
Romeo disconnects

Romeo sends:
\t<presence type="unavailable"/>

Romeo disconnects
""",
    ),
    "nothing_counts_what_is_left.scs": (
        FAILED,
        """\
Juliet sends:
\t<presence/>

Juliet receives: nothing
""",
    ),
    "never_comes.scs": (
        FAILED,
        """\
Juliet sends:
\t<presence/>

Juliet receives:
\t<message from="${Romeo's full JID}"/>
""",
    ),
    "receives_after_disconnect.scs": (
        FAILED,
        """\
Romeo disconnects

Romeo receives:
\t<presence/>
""",
    ),
}


@pytest.fixture
def scripts(write):
    for name, (_, body) in SCRIPTS.items():
        write(f"steps/{name}", CLIENTS + body)
    return write("steps/.keep", "").parent


@pytest.mark.parametrize(
    ("targets", "prosody"), [(("sandbox",), None), (("sandbox", "prosody"), "13")]
)
def test_actions_behave_as_scansion_s_on_every_target(scripts, targets, prosody):
    report = run([scripts], targets=targets, prosody=prosody)
    expected = {
        (name, target): status for name, (status, _) in SCRIPTS.items() for target in targets
    }
    assert verdicts(report) == expected, messages(report)
    assert not report.disagreements
    for target in targets:
        said = {name: text for (name, on), text in messages(report).items() if on == target}
        assert "nothing matching the expected stanza" in said["never_comes.scs"]
        assert "1 other stanza(s) arrived and were passed over" in said["never_comes.scs"]
        assert "received a stanza within" in said["nothing_counts_what_is_left.scs"]
        assert "Romeo is not connected" in said["receives_after_disconnect.scs"]
