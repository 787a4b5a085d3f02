"""Matching what arrived against what a scenario expects, and explaining a mismatch.

Stanzas follow scansion's habits: the element name and namespace must be equal, the
attributes and children the pattern gives must be present and match (extra ones are
allowed), text the pattern gives must equal the received text after trimming, and an
attribute value `{scansion:any}` (or `{any}`) accepts any value. JSON expectations are
subset matches: objects may carry extra keys, lists must have the same length and match
item by item, and the string `{any}` accepts any value.
"""

from __future__ import annotations

import difflib
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
