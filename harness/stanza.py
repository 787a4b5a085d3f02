"""Stanzas as ElementTree elements in the `jabber:client` default namespace: the helpers
of mock_backends.stanza, the one implementation (the mock backends stand alone, so it
lives with them)."""

from mock_backends.stanza import CLIENT_NS, local_name, namespace, parse, tostring

__all__ = ["CLIENT_NS", "local_name", "namespace", "parse", "tostring"]
