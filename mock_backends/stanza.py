"""Stanzas as ElementTree elements in the `jabber:client` default namespace.

Shared by the mock backends and the harness (which imports it as harness.stanza); it lives
here because the mock backends stand alone and import nothing from harness/."""

from __future__ import annotations

import xml.etree.ElementTree as ET

CLIENT_NS = "jabber:client"


def parse(xml: str | bytes) -> ET.Element:
    """Parse one stanza; an element without xmlns is put in jabber:client."""
    if isinstance(xml, bytes):
        xml = xml.decode("utf-8")
    text = xml.strip()
    # Wrap so unprefixed elements inherit jabber:client, as inside a c2s stream.
    wrapper = ET.fromstring(f'<wrapper xmlns="{CLIENT_NS}">{text}</wrapper>')
    children = list(wrapper)
    if len(children) != 1:
        raise ValueError(f"expected exactly one stanza, found {len(children)}: {text[:200]}")
    return children[0]


def tostring(element: ET.Element) -> str:
    """Serialise with jabber:client as the unprefixed default namespace."""
    ET.register_namespace("", CLIENT_NS)
    return ET.tostring(element, encoding="unicode")


def local_name(element: ET.Element) -> str:
    tag = element.tag
    return tag.rsplit("}", 1)[1] if tag.startswith("{") else tag


def namespace(element: ET.Element) -> str:
    tag = element.tag
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""
