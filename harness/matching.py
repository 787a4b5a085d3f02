"""Matching what arrived against what a scenario expects, and explaining a mismatch.

Stanzas follow scansion's habits: the element name and namespace must be equal, the
attributes and children the pattern gives must be present and match (extra ones are
allowed), text the pattern gives must equal the received text after trimming, and an
attribute value `{scansion:any}` (or `{any}`) accepts any value. JSON expectations are
subset matches: objects may carry extra keys, lists must have the same length and match
item by item, and the string `{any}` accepts any value.

Over 400 lines on purpose: the XML and JSON rules and their explanations are one set of
verdicts, read together when a verdict is questioned.

Scansion scripts (and scenarios with `matching: scansion`) follow scansion's own rules,
`scansion_mismatch`: elements in the stanza's default namespace (jabber:client) are
matched loosely as above, but an element with a namespace of its own, and everything
inside it, strictly: exactly the attributes given, exactly the children given, in order.
`scansion:strict="true|false"` on an element sets its mode (and its descendants').
`{scansion:any}` accepts any value; so does `{scansion:capture:NAME}`, which also records
the value under NAME (the last one received). Text is compared after trimming, and only
where the pattern gives some.
"""

from __future__ import annotations

import difflib
import re
import xml.etree.ElementTree as ET
from typing import Any

from harness.stanza import CLIENT_NS, local_name, namespace

WILDCARDS = frozenset({"{scansion:any}", "{any}"})


def _trimmed(text: str | None) -> str:
    return (text or "").strip()


def stanza_mismatch(pattern: ET.Element, actual: ET.Element, where: str = "") -> str | None:
    """Why `actual` does not match `pattern`, or None when it does."""
    here = f"{where}/{local_name(pattern)}"
    if pattern.tag != actual.tag:
        return (
            f"{where or '/'}: expected element <{_qualified(pattern)}>, got <{_qualified(actual)}>"
        )
    for attr, wanted in pattern.attrib.items():
        got = actual.attrib.get(attr)
        if got is None:
            return f"{here}: attribute {_attr_name(attr)} is missing (expected {wanted!r})"
        if wanted not in WILDCARDS and got != wanted:
            return f"{here}: attribute {_attr_name(attr)} is {got!r}, expected {wanted!r}"
    wanted_text = _trimmed(pattern.text)
    if wanted_text and wanted_text != _trimmed(actual.text):
        return f"{here}: text is {_trimmed(actual.text)!r}, expected {wanted_text!r}"
    return _children_mismatch(list(pattern), list(actual), here, namespace(pattern))


def _children_mismatch(
    patterns: list[ET.Element], actuals: list[ET.Element], here: str, parent_ns: str
) -> str | None:
    """Each pattern child must match a distinct received child (in any order)."""
    used: set[int] = set()
    for child in patterns:
        first_reason = None
        for index, candidate in enumerate(actuals):
            if index in used:
                continue
            reason = stanza_mismatch(child, candidate, here)
            if reason is None:
                used.add(index)
                break
            if first_reason is None and candidate.tag == child.tag:
                first_reason = reason
        else:
            return first_reason or f"{here}: no child <{_qualified(child, parent_ns)}>"
    return None


def stanza_matches(pattern: ET.Element, actual: ET.Element) -> bool:
    return stanza_mismatch(pattern, actual) is None


def closeness(pattern: ET.Element, actual: ET.Element) -> int:
    """A rough score of how much of `pattern` `actual` satisfies (to pick what to diff)."""
    if pattern.tag != actual.tag:
        return 0
    score = 2
    for attr, wanted in pattern.attrib.items():
        got = actual.attrib.get(attr)
        if got is not None and (wanted in WILDCARDS or got == wanted):
            score += 1
    for child in pattern:
        score += max((closeness(child, c) for c in actual), default=0)
    return score


def closest(pattern: ET.Element, candidates: list[ET.Element]) -> ET.Element | None:
    if not candidates:
        return None
    return max(candidates, key=lambda c: closeness(pattern, c))


def _qualified(element: ET.Element, parent_ns: str = CLIENT_NS) -> str:
    """The element's name, with its namespace when it differs from its parent's."""
    ns = namespace(element)
    name = local_name(element)
    return name if ns in ("", CLIENT_NS, parent_ns) else f"{name} xmlns='{ns}'"


def _attr_name(attr: str) -> str:
    if attr.startswith("{http://www.w3.org/XML/1998/namespace}"):
        return "xml:" + attr.split("}", 1)[1]
    if attr.startswith(f"{{{SCANSION_NS}}}"):
        return "scansion:" + attr.split("}", 1)[1]
    return attr


def pretty(element: ET.Element, parent_ns: str = CLIENT_NS, indent: str = "") -> list[str]:
    """Lines of a stable, indented rendering: attributes sorted, xmlns shown where it changes."""
    ns = namespace(element)
    attrs = [f'xmlns="{ns}"'] if ns != parent_ns else []
    attrs += [f'{_attr_name(k)}="{v}"' for k, v in sorted(element.attrib.items())]
    opening = "<" + " ".join([local_name(element), *attrs])
    text = _trimmed(element.text)
    children = list(element)
    if not children and not text:
        return [f"{indent}{opening}/>"]
    if not children:
        return [f"{indent}{opening}>{text}</{local_name(element)}>"]
    lines = [f"{indent}{opening}>"]
    if text:
        lines.append(f"{indent}  {text}")
    for child in children:
        lines += pretty(child, ns, indent + "  ")
    lines.append(f"{indent}</{local_name(element)}>")
    return lines


def text_diff(expected: list[str], received: list[str]) -> str:
    """A unified diff, '-' for expected lines and '+' for received ones."""
    diff = difflib.unified_diff(expected, received, "expected", "received", lineterm="", n=3)
    return "\n".join(diff)


def stanza_diff(pattern: ET.Element, actual: ET.Element, parent_ns: str = CLIENT_NS) -> str:
    """Expected against the part of the received stanza the pattern speaks about, then
    the received stanza in full (extra attributes and children are allowed, so showing
    them as differences would hide the one that matters)."""
    diff = text_diff(pretty(pattern, parent_ns), pretty(projection(pattern, actual), parent_ns))
    full = "\n".join(pretty(actual, parent_ns))
    return f"{diff}\nreceived in full:\n{full}"


def projection(pattern: ET.Element, actual: ET.Element) -> ET.Element:
    """`actual` cut down to the attributes and children `pattern` mentions."""
    shown = ET.Element(actual.tag)
    for attr, wanted in pattern.attrib.items():
        got = actual.attrib.get(attr)
        if got is not None:
            shown.set(attr, wanted if wanted in WILDCARDS else got)
    if _trimmed(pattern.text):
        shown.text = actual.text
    unused = list(actual)
    for child in pattern:
        candidates = [c for c in unused if c.tag == child.tag]
        best = closest(child, candidates)
        if best is not None:
            unused.remove(best)
            shown.append(projection(child, best))
    return shown


def json_mismatch(expected: Any, actual: Any, where: str = "$") -> str | None:
    """Why `actual` is not a superset of `expected`, or None when it is."""
    if isinstance(expected, str) and expected in WILDCARDS:
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where}: expected an object, got {_short(actual)}"
        for key, value in expected.items():
            if key not in actual:
                return f"{where}: key {key!r} is missing"
            reason = json_mismatch(value, actual[key], f"{where}.{key}")
            if reason:
                return reason
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return f"{where}: expected a list, got {_short(actual)}"
        if len(expected) != len(actual):
            return f"{where}: expected {len(expected)} items, got {len(actual)}"
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            reason = json_mismatch(want, got, f"{where}[{index}]")
            if reason:
                return reason
        return None
    # bool is an int in Python; JSON keeps them apart.
    if expected != actual or isinstance(expected, bool) != isinstance(actual, bool):
        return f"{where}: expected {_short(expected)}, got {_short(actual)}"
    return None


def json_diff(expected: Any, actual: Any) -> str:
    """Diff of `expected` against the part of `actual` it talks about (extra keys hidden)."""
    import json

    def lines(value: Any) -> list[str]:
        return json.dumps(value, indent=2, sort_keys=True, default=str).splitlines()

    return text_diff(lines(expected), lines(_projection(expected, actual)))


def _projection(expected: Any, actual: Any) -> Any:
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {k: _projection(v, actual[k]) for k, v in expected.items() if k in actual}
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [_projection(e, a) for e, a in zip(expected, actual, strict=True)]
    if isinstance(expected, str) and expected in WILDCARDS:
        return expected
    return actual


def _short(value: Any) -> str:
    import json

    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


# -- scansion's rules ----------------------------------------------------------------------

# The namespace of scansion's own attributes (`scansion:strict`); the .scs reader declares
# it for the `scansion:` prefix, which scripts use without declaring it.
SCANSION_NS = "https://matthewwild.co.uk/projects/scansion"
SCANSION_ANY = "{scansion:any}"
CAPTURE = re.compile(r"^\{scansion:capture:([^{}]+)\}$")
STRICT_ATTR = f"{{{SCANSION_NS}}}strict"
MAX_ASSIGNMENT_TRIES = 10_000  # bound on the search pairing loose children


def scansion_mismatch(
    pattern: ET.Element, actual: ET.Element, captures: dict[str, str] | None = None
) -> str | None:
    """Why `actual` does not match `pattern` by scansion's rules, or None when it does.

    `captures` holds the values captured so far in the script; on a match the values this
    stanza captured are added to it (a failed match changes nothing)."""
    found = dict(captures or {})
    reason = _scansion(pattern, actual, found, False, CLIENT_NS, "")
    if reason is None and captures is not None:
        captures.update(found)
    return reason


def is_strict(pattern: ET.Element, inherited: bool, parent_ns: str) -> bool:
    """Whether scansion matches `pattern` strictly: as its scansion:strict says, else
    strictly when it brings a namespace of its own (other than jabber:client), else as
    its parent was matched."""
    flag = pattern.get(STRICT_ATTR)
    if flag is not None:
        return flag.strip().lower() not in ("false", "0", "no")
    return namespace(pattern) not in (parent_ns, CLIENT_NS) or inherited


def _own_attributes(element: ET.Element) -> dict[str, str]:
    return {k: v for k, v in element.attrib.items() if not k.startswith(f"{{{SCANSION_NS}}}")}


def _value_matches(wanted: str, got: str, found: dict[str, str]) -> bool:
    if wanted == SCANSION_ANY:
        return True
    capture = CAPTURE.match(wanted)
    if capture:
        found[capture[1]] = got
        return True
    return wanted == got


def _all_text(element: ET.Element) -> str:
    return ((element.text or "") + "".join(child.tail or "" for child in element)).strip()


def _scansion(
    pattern: ET.Element,
    actual: ET.Element,
    found: dict[str, str],
    inherited: bool,
    parent_ns: str,
    where: str,
) -> str | None:
    here = f"{where}/{local_name(pattern)}"
    if pattern.tag != actual.tag:
        return (
            f"{where or '/'}: expected element <{_qualified(pattern, parent_ns)}>, "
            f"got <{_qualified(actual, parent_ns)}>"
        )
    strict = is_strict(pattern, inherited, parent_ns)
    wanted_attrs = _own_attributes(pattern)
    for attr, wanted in wanted_attrs.items():
        got = actual.attrib.get(attr)
        if got is None:
            return f"{here}: attribute {_attr_name(attr)} is missing (expected {wanted!r})"
        if not _value_matches(wanted, got, found):
            return f"{here}: attribute {_attr_name(attr)} is {got!r}, expected {wanted!r}"
    if strict:
        extra = [attr for attr in actual.attrib if attr not in wanted_attrs]
        if extra:
            return (
                f"{here}: attribute {_attr_name(extra[0])}={actual.attrib[extra[0]]!r} is "
                "not in the pattern (matched strictly: no attributes beyond those given)"
            )
    wanted_text = _all_text(pattern)
    if wanted_text and not _value_matches(wanted_text, _all_text(actual), found):
        return f"{here}: text is {_all_text(actual)!r}, expected {wanted_text!r}"
    patterns, actuals, ns = list(pattern), list(actual), namespace(pattern)
    if strict:
        if len(patterns) != len(actuals):
            names = ", ".join(f"<{_qualified(c, ns)}>" for c in actuals) or "none"
            return (
                f"{here}: {len(actuals)} children ({names}), expected {len(patterns)} "
                "(matched strictly: the same children, in the same order)"
            )
        for child, candidate in zip(patterns, actuals, strict=True):
            reason = _scansion(child, candidate, found, True, ns, here)
            if reason:
                return reason
        return None
    return _loose_children(patterns, actuals, found, ns, here)


def _loose_children(
    patterns: list[ET.Element],
    actuals: list[ET.Element],
    found: dict[str, str],
    ns: str,
    here: str,
) -> str | None:
    """Each pattern child matches a different received child, in any order."""
    tries = [0]

    def assign(index: int, used: frozenset[int], state: dict[str, str]) -> dict | None:
        if index == len(patterns):
            return state
        for position, candidate in enumerate(actuals):
            tries[0] += 1
            if position in used or tries[0] > MAX_ASSIGNMENT_TRIES:
                continue
            trial = dict(state)
            if _scansion(patterns[index], candidate, trial, False, ns, here) is None:
                done = assign(index + 1, used | {position}, trial)
                if done is not None:
                    return done
        return None

    result = assign(0, frozenset(), found)
    if result is not None:
        found.update(result)
        return None
    for child in patterns:  # say which child has no match at all, else that they clash
        reasons = [_scansion(child, c, dict(found), False, ns, here) for c in actuals]
        if None not in reasons:
            near = [r for r, c in zip(reasons, actuals, strict=True) if c.tag == child.tag]
            return near[0] if near else f"{here}: no child <{_qualified(child, ns)}>"
    return f"{here}: the children given cannot each match a different received child"


def scansion_diff(pattern: ET.Element, actual: ET.Element) -> str:
    """Like stanza_diff, but a strictly matched element shows all it received."""
    shown = pretty(_scansion_projection(pattern, actual, False, CLIENT_NS))
    diff = text_diff(pretty(_without_scansion_attrs(pattern)), shown)
    return f"{diff}\nreceived in full:\n" + "\n".join(pretty(actual))


def _without_scansion_attrs(element: ET.Element) -> ET.Element:
    copy = ET.Element(element.tag, _own_attributes(element))
    copy.text, copy.tail = element.text, element.tail
    copy.extend(_without_scansion_attrs(child) for child in element)
    return copy


def _scansion_projection(
    pattern: ET.Element, actual: ET.Element, inherited: bool, parent_ns: str
) -> ET.Element:
    """What of `actual` the pattern speaks about (all of it where matched strictly), with
    the pattern's wildcards where the received values are accepted anyway."""
    strict = is_strict(pattern, inherited, parent_ns)
    wanted = _own_attributes(pattern)
    shown = ET.Element(actual.tag)
    for attr, got in actual.attrib.items():
        value = wanted.get(attr)
        if value is not None and (value == SCANSION_ANY or CAPTURE.match(value)):
            shown.set(attr, value)
        elif strict or value is not None:
            shown.set(attr, got)
    if _all_text(pattern) or strict:
        shown.text = _all_text(actual)
    ns, unused = namespace(pattern), list(actual)
    for child in pattern:
        candidates = unused[:1] if strict else [c for c in unused if c.tag == child.tag]
        best = closest(child, candidates)
        if best is not None:
            unused.remove(best)
            shown.append(_scansion_projection(child, best, strict, ns))
    if strict:
        shown.extend(unused)
    return shown
