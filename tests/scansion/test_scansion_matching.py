"""scansion's matching rules (harness.matching.scansion_mismatch): loose in the stanza's
default namespace, strict inside an element with a namespace of its own, scansion:strict,
{scansion:any}, {scansion:capture:NAME}, whitespace and text."""

from __future__ import annotations

import pytest

from harness.matching import SCANSION_NS, scansion_diff, scansion_mismatch
from harness.stanza import parse

DECLARE = f'xmlns:scansion="{SCANSION_NS}"'

RECEIVED = parse("""
<iq type="result" id="r1" to="romeo@localhost/garden" xml:lang="en">
  <query xmlns="jabber:iq:roster" ver="3">
    <item jid="juliet@localhost" subscription="both"><group>Friends</group></item>
    <item jid="nurse@localhost" subscription="none"/>
  </query>
  <extra xmlns="urn:example"/>
</iq>""")


def pattern(xml: str):
    """A pattern as the .scs reader gives it: the scansion: prefix declared."""
    return parse(xml.replace("<iq", f"<iq {DECLARE}", 1) if "scansion:" in xml else xml)


@pytest.mark.parametrize(
    "xml",
    [
        # jabber:client elements: attributes and children given must be there, more allowed
        '<iq type="result"/>',
        '<iq id="{scansion:any}" type="result"/>',
        '<iq><extra xmlns="urn:example"/></iq>',
        # a namespaced element: exactly its attributes and children, in order
        '<iq><query xmlns="jabber:iq:roster" ver="3"><item jid="juliet@localhost" '
        'subscription="both"><group>Friends</group></item><item jid="nurse@localhost" '
        'subscription="none"/></query></iq>',
        # whitespace between elements and around text does not count
        """<iq>
             <query xmlns="jabber:iq:roster" ver="{scansion:any}">
               <item jid="juliet@localhost" subscription="both">
                 <group>  Friends  </group>
               </item>
               <item jid="nurse@localhost" subscription="none"/>
             </query>
           </iq>""",
        # scansion:strict="false": loose again inside
        '<iq><query xmlns="jabber:iq:roster" scansion:strict="false">'
        '<item jid="nurse@localhost"/></query></iq>',
        # strictly matched elements still ignore text the pattern does not give
        '<iq><query xmlns="jabber:iq:roster" ver="3"><item jid="juliet@localhost" '
        'subscription="both"><group/></item><item jid="nurse@localhost" '
        'subscription="none"/></query></iq>',
    ],
)
def test_what_scansion_accepts(xml):
    assert scansion_mismatch(pattern(xml), RECEIVED) is None


REFUSED = [
    ('<iq type="error"/>', "/iq: attribute type is 'result', expected 'error'"),
    ('<iq from="{scansion:any}"/>', "/iq: attribute from is missing"),
    (
        '<iq><query xmlns="jabber:iq:roster"><item jid="juliet@localhost" subscription="both">'
        '<group>Friends</group></item><item jid="nurse@localhost" subscription="none"/>'
        "</query></iq>",
        "/iq/query: attribute ver='3' is not in the pattern (matched strictly",
    ),
    (
        '<iq><query xmlns="jabber:iq:roster" ver="3"><item jid="juliet@localhost" '
        'subscription="both"><group>Friends</group></item></query></iq>',
        "/iq/query: 2 children (<item>, <item>), expected 1",
    ),
    (
        '<iq><query xmlns="jabber:iq:roster" ver="3"><item jid="nurse@localhost" '
        'subscription="none"/><item jid="juliet@localhost" subscription="both">'
        "<group>Friends</group></item></query></iq>",
        "/iq/query/item: attribute jid is 'juliet@localhost', expected 'nurse@localhost'",
    ),
    (
        '<iq><query xmlns="jabber:iq:roster" scansion:strict="false"><item>'
        "<group>Family</group></item></query></iq>",
        "/iq/query/item/group: text is 'Friends', expected 'Family'",
    ),
    ('<iq type="result" scansion:strict="true"/>', "(matched strictly"),
    (
        '<iq><query xmlns="jabber:iq:private"/></iq>',
        "/iq: no child <query xmlns='jabber:iq:private'>",
    ),
]


@pytest.mark.parametrize(("xml", "reason"), REFUSED)
def test_what_scansion_refuses_and_why(xml, reason):
    found = scansion_mismatch(pattern(xml), RECEIVED)
    assert found is not None and reason in found, found


def test_strictness_is_inherited_and_can_be_relaxed_below():
    received = parse(
        '<iq><query xmlns="jabber:iq:version"><name>Prosody</name>'
        "<version>13.0.1</version></query></iq>"
    )
    strict_text = pattern(
        '<iq><query xmlns="jabber:iq:version"><name>Prosody</name>'
        "<version>0.12</version></query></iq>"
    )
    relaxed = pattern(
        '<iq><query xmlns="jabber:iq:version" scansion:strict="true">'
        '<name>Prosody</name><version scansion:strict="false"/></query></iq>'
    )
    assert "text is '13.0.1', expected '0.12'" in scansion_mismatch(strict_text, received)
    assert scansion_mismatch(relaxed, received) is None


def test_captures_record_the_value_and_a_failed_match_changes_nothing():
    captures: dict[str, str] = {}
    got = pattern(
        '<iq id="{scansion:capture:first}"><query xmlns="jabber:iq:roster" '
        'ver="{scansion:capture:ver}" scansion:strict="false"/></iq>'
    )
    assert scansion_mismatch(got, RECEIVED, captures) is None
    assert captures == {"first": "r1", "ver": "3"}
    failing = pattern('<iq id="{scansion:capture:first}" type="error"/>')
    assert scansion_mismatch(failing, parse('<iq id="r2" type="result"/>'), captures)
    assert captures == {"first": "r1", "ver": "3"}


def test_a_loose_element_pairs_each_pattern_child_with_a_different_received_one():
    received = parse(
        '<presence><x xmlns="urn:x"/><status code="110"/><status code="201"/></presence>'
    )
    assert (
        scansion_mismatch(parse('<presence><status/><status code="110"/></presence>'), received)
        is None
    )
    assert (
        scansion_mismatch(parse("<presence><status/><status/><status/></presence>"), received)
        is not None
    )


def test_the_diff_shows_all_a_strict_element_received_with_the_patterns_wildcards():
    xml = '<iq><query xmlns="jabber:iq:roster" ver="{scansion:any}"><item jid="x"/></query></iq>'
    diff = scansion_diff(pattern(xml), RECEIVED)
    assert '\n   <query xmlns="jabber:iq:roster" ver="{scansion:any}">' in diff  # the same
    assert '+    <item jid="nurse@localhost" subscription="none"/>' in diff
    assert "received in full:" in diff
