"""Stanza and JSON matching: scansion's rules, and mismatch explanations."""

from __future__ import annotations

import pytest

from harness import matching
from harness.stanza import parse

RECEIVED = parse("""
<iq type="result" id="r1" to="john@localhost/phone" xml:lang="en">
  <query xmlns="jabber:iq:roster" ver="3">
    <item jid="marie@localhost" name="Marie" subscription="both"><group>Friends</group></item>
    <item jid="aaron@localhost" name="Aaron" subscription="to"/>
  </query>
</iq>""")


@pytest.mark.parametrize(
    "pattern",
    [
        '<iq type="result"/>',
        '<iq type="result" id="{scansion:any}"/>',
        '<iq id="{any}"><query xmlns="jabber:iq:roster"/></iq>',
        # children in any order, extra ones allowed
        '<iq><query xmlns="jabber:iq:roster"><item jid="aaron@localhost"/>'
        '<item jid="marie@localhost"><group>Friends</group></item></query></iq>',
        '<iq><query xmlns="jabber:iq:roster"><item><group> Friends </group></item></query></iq>',
    ],
)
def test_what_the_pattern_gives_must_match_extra_is_allowed(pattern):
    assert matching.stanza_mismatch(parse(pattern), RECEIVED) is None


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("<message/>", "expected element <message>, got <iq>"),
        ('<iq type="error"/>', "/iq: attribute type is 'result', expected 'error'"),
        ('<iq from="{any}"/>', "/iq: attribute from is missing"),
        (
            '<iq><query xmlns="jabber:iq:private"/></iq>',
            "/iq: no child <query xmlns='jabber:iq:private'>",
        ),
        (
            '<iq><query xmlns="jabber:iq:roster"><item jid="zoe@localhost"/></query></iq>',
            "/iq/query/item: attribute jid is 'marie@localhost', expected 'zoe@localhost'",
        ),
        (
            '<iq><query xmlns="jabber:iq:roster"><item><group>Family</group></item></query></iq>',
            "/iq/query/item/group: text is 'Friends', expected 'Family'",
        ),
        # one received child cannot satisfy two pattern children
        (
            '<iq><query xmlns="jabber:iq:roster"><item jid="aaron@localhost"/>'
            '<item jid="aaron@localhost"/></query></iq>',
            "/iq/query/item",
        ),
    ],
)
def test_a_mismatch_says_where_and_why(pattern, reason):
    assert reason in (matching.stanza_mismatch(parse(pattern), RECEIVED) or "")


def test_the_diff_shows_only_what_differs_then_the_stanza_in_full():
    pattern = parse(
        '<iq type="result"><query xmlns="jabber:iq:roster">'
        '<item jid="marie@localhost" name="Mary"/></query></iq>'
    )
    diff = matching.stanza_diff(pattern, RECEIVED)
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in "---+++"]
    assert changed == [
        '-    <item jid="marie@localhost" name="Mary"/>',
        '+    <item jid="marie@localhost" name="Marie"/>',
    ]
    assert "received in full:" in diff and 'name="Aaron"' in diff.split("received in full:")[1]


def test_closest_picks_the_most_similar_candidate():
    wanted = parse('<message type="chat"><body>hi</body></message>')
    candidates = [
        parse("<presence/>"),
        parse('<message type="chat"><body>ho</body></message>'),
        parse('<message type="error"/>'),
    ]
    assert matching.closest(wanted, candidates) is candidates[1]


@pytest.mark.parametrize(
    ("expected", "actual", "reason"),
    [
        ({"status": "ok"}, {"status": "ok", "updated": 1}, None),
        ({"a": {"b": [1, {"c": 2}]}}, {"a": {"b": [1, {"c": 2, "d": 3}]}}, None),
        ({"id": "{any}"}, {"id": 12}, None),
        ({"status": "ok"}, {"status": "error"}, '$.status: expected "ok", got "error"'),
        ({"n": 1}, {"n": True}, "$.n: expected 1, got true"),
        ({"missing": 1}, {}, "$: key 'missing' is missing"),
        ([1, 2], [1, 2, 3], "$: expected 2 items, got 3"),
        ({"a": 1}, [1], "$: expected an object, got [1]"),
    ],
)
def test_json_is_a_subset_match(expected, actual, reason):
    assert matching.json_mismatch(expected, actual) == reason


def test_json_diff_hides_keys_the_expectation_does_not_mention():
    diff = matching.json_diff({"status": "ok"}, {"status": "error", "noise": [1, 2, 3]})
    assert '-  "status": "ok"' in diff and '+  "status": "error"' in diff
    assert "noise" not in diff
