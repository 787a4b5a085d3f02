"""JIDs as Prosody's util.jid.prep sees them: nodeprep, nameprep and resourceprep
(RFC 3920's stringprep profiles, which Prosody 0.12 and 13 use through libidn), each part
under 1,024 bytes. Python's stringprep tables (Unicode 3.2) do the work; unassigned code
points are let through, as Prosody does by default."""

from __future__ import annotations

import stringprep
import unicodedata
from encodings.idna import nameprep as _idna_nameprep

NODE_FORBIDDEN = set("\"&'/:<>@")
MAX_PART_BYTES = 1023

_PROHIBITED = (
    stringprep.in_table_c12,
    stringprep.in_table_c21,
    stringprep.in_table_c22,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
)


def _bidi_ok(text: str) -> bool:
    rand_al = [stringprep.in_table_d1(c) for c in text]
    if not any(rand_al):
        return True
    return not any(stringprep.in_table_d2(c) for c in text) and rand_al[0] and rand_al[-1]


def _profile(text: str, fold: bool, prohibit_space: bool, extra: set[str]) -> str | None:
    mapped = "".join(
        stringprep.map_table_b2(c) if fold else c for c in text if not stringprep.in_table_b1(c)
    )
    normal = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    for c in normal:
        if c in extra or (prohibit_space and stringprep.in_table_c11(c)):
            return None
        if any(table(c) for table in _PROHIBITED):
            return None
    if not _bidi_ok(normal) or len(normal.encode("utf-8")) > MAX_PART_BYTES:
        return None
    return normal


def nodeprep(text: str) -> str | None:
    """The node (username) as Prosody stores it, or None when it is not valid."""
    if not text or len(text.encode("utf-8")) > MAX_PART_BYTES:
        return None
    prepped = _profile(text, True, True, NODE_FORBIDDEN)
    return prepped or None


def resourceprep(text: str) -> str | None:
    if not text or len(text.encode("utf-8")) > MAX_PART_BYTES:
        return None
    return _profile(text, False, False, set()) or None


def nameprep(text: str) -> str | None:
    if text.endswith("."):
        text = text[:-1]
    if not text or len(text.encode("utf-8")) > MAX_PART_BYTES:
        return None
    try:
        prepped = _idna_nameprep(text)
    except UnicodeError:
        return None
    return prepped if prepped and len(prepped.encode("utf-8")) <= MAX_PART_BYTES else None


def split(jid: str) -> tuple[str | None, str, str | None] | None:
    """node, domain, resource as util.jid.split cuts them; None when the text is no JID."""
    node = None
    at = jid.find("@")
    slash = jid.find("/")
    if at != -1 and (slash == -1 or at < slash):
        node, rest = jid[:at], jid[at + 1 :]
        if not node:
            return None
    else:
        rest = jid
    domain, has_slash, resource = rest.partition("/")
    if not domain or "@" in domain or (has_slash and not resource):
        return None
    return node, domain, (resource if has_slash else None)


def prep(jid: str) -> str | None:
    """util.jid.prep: the normalised JID, or None when it is not valid."""
    parts = split(jid)
    if parts is None:
        return None
    node, domain, resource = parts
    prepped_domain = nameprep(domain)
    if prepped_domain is None:
        return None
    result = prepped_domain
    if node is not None:
        prepped_node = nodeprep(node)
        if prepped_node is None:
            return None
        result = f"{prepped_node}@{result}"
    if resource is not None:
        prepped_resource = resourceprep(resource)
        if prepped_resource is None:
            return None
        result = f"{result}/{prepped_resource}"
    return result


def prep_bare(jid: str) -> str | None:
    """The prepped JID when it is a valid bare JID (no resource), else None."""
    prepped = prep(jid)
    if prepped is None or "/" in prepped:
        return None
    return prepped
