"""Hypothesis strategies: mod_rest JSON objects in their canonical form (the form the module
writes, so JSON -> XML -> JSON must give them back unchanged), and arbitrary XML payloads."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from hypothesis import strategies as st

# Text XML can carry (no control characters but tab and newline; no surrogates). \r is left
# out: an XML parser turns it into \n, which the payload test would see as a change.
TEXT = st.text(
    st.characters(
        blacklist_categories=("Cs",), blacklist_characters="\r\ufffe\uffff", min_codepoint=9
    ).filter(lambda c: c in "\t\n" or ord(c) >= 32),
    max_size=20,
)
WORD = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
NODE = st.text("abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=8).filter(
    lambda s: s[0].isalnum()
)
DOMAIN = st.sampled_from(["localhost", "example.org", "rest.localhost", "xn--bcher-kva.example"])
RESOURCE = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="/"),
    min_size=1,
    max_size=8,
)


@st.composite
def jids(draw) -> str:
    jid = draw(DOMAIN)
    if draw(st.booleans()):
        jid = draw(NODE) + "@" + jid
    if draw(st.booleans()):
        jid = jid + "/" + draw(RESOURCE)
    return jid


def optional(strategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


def _compact(mapping: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


@st.composite
def basics(draw, kind: str, stanza_type: str | None) -> dict[str, Any]:
    return _compact(
        {
            "kind": kind,
            "type": stanza_type,
            "to": draw(optional(jids())),
            "from": draw(optional(jids())),
            "id": draw(optional(WORD)),
            "lang": draw(optional(st.sampled_from(["en", "de", "sv-SE"]))),
        }
    )


HTML_TAGS = ["p", "strong", "em", "span", "a", "br"]


@st.composite
def html_bodies(draw) -> str:
    """One XHTML <body>, written the way Prosody's serializer writes it (single-quoted
    attributes, ' and " escaped), so the mapping gives exactly this string back."""

    def escape(text: str) -> str:
        return (
            text.replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .replace("'", "&apos;")
            .replace('"', "&quot;")
        )

    def element(depth: int) -> str:
        tag = draw(st.sampled_from(HTML_TAGS))
        attribute = f" class='{escape(draw(WORD))}'" if draw(st.booleans()) else ""
        parts = []
        for _ in range(draw(st.integers(0, 3))):
            if depth < 2 and draw(st.booleans()):
                parts.append(element(depth + 1))
            else:
                parts.append(escape(draw(TEXT.filter(bool))))
        content = "".join(parts)
        return f"<{tag}{attribute}>{content}</{tag}>" if content else f"<{tag}{attribute}/>"

    inner = "".join(element(0) for _ in range(draw(st.integers(1, 3))))
    return f"<body>{inner}</body>"


@st.composite
def messages(draw) -> dict[str, Any]:
    message = draw(
        basics("message", draw(st.sampled_from(["normal", "chat", "groupchat", "headline"])))
    )
    message.update(
        _compact(
            {
                "body": draw(optional(TEXT)),
                "subject": draw(optional(TEXT)),
                "html": draw(optional(html_bodies())),
                "oob_url": draw(optional(TEXT)),
                "state": draw(
                    optional(st.sampled_from(["active", "inactive", "gone", "composing", "paused"]))
                ),
            }
        )
    )
    return message


@st.composite
def presences(draw) -> dict[str, Any]:
    presence = draw(
        basics(
            "presence",
            draw(
                st.sampled_from(
                    [
                        "available",
                        "unavailable",
                        "subscribe",
                        "subscribed",
                        "unsubscribe",
                        "unsubscribed",
                        "probe",
                    ]
                )
            ),
        )
    )
    presence.update(
        _compact(
            {
                "show": draw(optional(st.sampled_from(["away", "chat", "dnd", "xa"]))),
                "status": draw(optional(TEXT)),
                "priority": draw(optional(st.integers(-128, 127))),
                "join": draw(optional(st.just(True))),
            }
        )
    )
    return presence


DATA_VALUE = st.one_of(TEXT, st.lists(TEXT, max_size=3), st.booleans())
FIELD_TYPES = [
    "boolean",
    "fixed",
    "hidden",
    "jid-multi",
    "jid-single",
    "list-multi",
    "list-single",
    "text-multi",
    "text-private",
    "text-single",
]


@st.composite
def form_fields(draw) -> dict[str, Any]:
    field_type = draw(optional(st.sampled_from(FIELD_TYPES)))
    multi = field_type in ("jid-multi", "list-multi", "text-multi")
    return _compact(
        {
            "var": draw(optional(WORD)),
            "type": field_type,
            "label": draw(optional(TEXT)),
            "desc": draw(optional(TEXT)),
            "required": draw(optional(st.just(True))),
            "value": draw(st.lists(TEXT, max_size=3)) if multi else draw(optional(TEXT)),
            "options": draw(
                optional(
                    st.lists(
                        st.fixed_dictionaries({"value": TEXT}, optional={"label": TEXT}),
                        min_size=1,
                        max_size=3,
                    )
                )
            ),
        }
    )


@st.composite
def forms(draw) -> dict[str, Any]:
    return _compact(
        {
            "type": "form",
            "title": draw(optional(TEXT)),
            "instructions": draw(optional(TEXT)),
            "fields": draw(st.lists(form_fields(), max_size=3)),
        }
    )


@st.composite
def commands(draw) -> dict[str, Any]:
    command = _compact(
        {
            "node": draw(WORD),
            "sessionid": draw(optional(WORD)),
            "action": draw(
                optional(st.sampled_from(["execute", "cancel", "prev", "next", "complete"]))
            ),
            "status": draw(optional(st.sampled_from(["executing", "completed", "canceled"]))),
            "actions": draw(
                optional(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "execute": st.sampled_from(["execute", "prev", "next", "complete"]),
                            "next": st.just(True),
                            "prev": st.just(True),
                            "complete": st.just(True),
                        },
                    )
                )
            ),
            "note": draw(
                optional(
                    st.fixed_dictionaries(
                        {"text": TEXT},
                        optional={"type": st.sampled_from(["info", "warn", "error"])},
                    )
                )
            ),
        }
    )
    extra = draw(st.sampled_from(["none", "form", "data"]))
    if extra == "form":
        command["form"] = draw(forms())
    elif extra == "data":
        command["data"] = draw(st.dictionaries(WORD, DATA_VALUE, max_size=4))
    return command


@st.composite
def iq_queries(draw) -> dict[str, Any]:
    iq = draw(basics("iq", draw(st.sampled_from(["get", "set"]))))
    payload = draw(st.sampled_from(["ping", "version", "disco", "items", "command"]))
    if payload == "ping":
        iq["ping"] = True
    elif payload == "version":
        iq["version"] = {}
    elif payload in ("disco", "items"):
        iq[payload] = draw(st.one_of(st.just(True), TEXT))
    else:
        iq["command"] = draw(commands())
    return iq


@st.composite
def iq_results(draw) -> dict[str, Any]:
    iq = draw(basics("iq", "result"))
    payload = draw(st.sampled_from(["none", "version", "disco", "items", "command"]))
    if payload == "version":
        iq["version"] = draw(
            st.fixed_dictionaries({}, optional={"name": TEXT, "version": TEXT, "os": TEXT})
        )
    elif payload == "disco":
        iq["disco"] = _compact(
            {
                "node": draw(optional(TEXT)),
                "identities": draw(
                    st.lists(
                        st.fixed_dictionaries(
                            {"category": WORD, "type": WORD}, optional={"name": TEXT}
                        ),
                        max_size=3,
                    )
                ),
                "features": draw(st.lists(TEXT, max_size=4)),
                "extensions": draw(
                    optional(
                        st.dictionaries(
                            WORD.map(lambda w: "urn:example:" + w),
                            st.dictionaries(
                                WORD.filter(lambda w: w != "FORM_TYPE"), DATA_VALUE, max_size=3
                            ),
                            min_size=1,
                            max_size=2,
                        )
                    )
                ),
            }
        )
    elif payload == "items":
        iq["items"] = draw(
            st.lists(
                st.fixed_dictionaries({"jid": jids()}, optional={"name": TEXT, "node": TEXT}),
                max_size=4,
            )
        )
    elif payload == "command":
        iq["command"] = draw(commands())
    return iq


ERROR_CONDITIONS = [
    "bad-request",
    "conflict",
    "feature-not-implemented",
    "forbidden",
    "internal-server-error",
    "item-not-found",
    "not-acceptable",
    "not-allowed",
    "not-authorized",
    "recipient-unavailable",
    "remote-server-timeout",
    "service-unavailable",
    "undefined-condition",
]


@st.composite
def errors(draw) -> dict[str, Any]:
    stanza = draw(basics(draw(st.sampled_from(["message", "presence", "iq"])), "error"))
    stanza["error"] = _compact(
        {
            "type": draw(st.sampled_from(["auth", "cancel", "continue", "modify", "wait"])),
            "condition": draw(st.sampled_from(ERROR_CONDITIONS)),
            "text": draw(optional(TEXT)),
            "by": draw(optional(jids())),
        }
    )
    return stanza


json_stanzas = st.one_of(messages(), presences(), iq_queries(), iq_results(), errors())

# -- XML payloads ----------------------------------------------------------------------------

ELEMENT_NAME = st.sampled_from(["x", "item", "data", "query", "a", "b", "value", "ext"])
NAMESPACE = st.sampled_from(["urn:example:one", "urn:example:two", "http://example.org/ns#x"])
ATTRIBUTE_NAME = st.sampled_from(["id", "name", "var", "type", "node", "v"])
ATTRIBUTE_VALUE = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    max_size=10,
)


@st.composite
def payload_elements(draw, depth: int = 0, namespace: str | None = None) -> ET.Element:
    """An element tree in foreign namespaces: names, attributes (some namespaced), text
    and tails of any XML-valid characters."""
    own_namespace = draw(NAMESPACE) if namespace is None or draw(st.booleans()) else namespace
    element = ET.Element(f"{{{own_namespace}}}{draw(ELEMENT_NAME)}")
    for name, value in draw(st.dictionaries(ATTRIBUTE_NAME, ATTRIBUTE_VALUE, max_size=3)).items():
        element.set(name, value)
    if draw(st.booleans()):
        element.set("{urn:example:attr}flag", draw(ATTRIBUTE_VALUE))
    element.text = draw(optional(TEXT.filter(bool)))
    if depth < 3:
        for child in draw(st.lists(payload_elements(depth + 1, own_namespace), max_size=3)):
            child.tail = draw(optional(TEXT.filter(bool)))
            element.append(child)
    return element


def canonical(element: ET.Element) -> tuple:
    """What must survive: names, namespaces, attributes, text and tails, in order."""
    return (
        element.tag,
        sorted(element.attrib.items()),
        element.text or "",
        [(canonical(child), child.tail or "") for child in element],
    )
