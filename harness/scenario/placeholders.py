"""`${...}` placeholders: backend URLs, Prosody's HTTP URL, clients' JIDs.

${roster.url}  ${roster.port}  ${roster.ca_file}  ${prosody.http_url}  ${john.jid}  ${john.full_jid}
${john.resource}  ${John's JID}  ${John's full JID}  ${John's resource}  (the last three are
scansion's spelling; a name may hold spaces and apostrophes: ${Juliet's phone's full JID})
"""

from __future__ import annotations

import re
from typing import Any

PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
# scansion's spelling: "<client name>'s <field>", the field after the last "'s ".
SCANSION_VARIABLE = re.compile(r"^(?P<name>.+)'s (?P<field>JID|full JID|resource)$")
SCANSION_FIELDS = {"JID": "jid", "full JID": "full_jid", "resource": "resource"}
# Roots and attributes a placeholder may name; the runner fills Variables with them.
BACKEND_FIELDS = ("url", "port", "ca_file")
CLIENT_FIELDS = ("jid", "full_jid", "resource")
PROSODY_FIELDS = ("http_url", "http_port")


class PlaceholderError(ValueError):
    path: tuple = ()


def parse_name(text: str) -> tuple[str, str]:
    """`roster.url` -> ("roster", "url"); `John's full JID` -> ("John", "full_jid")."""
    scansion = SCANSION_VARIABLE.match(text.strip())
    if scansion:
        return scansion["name"], SCANSION_FIELDS[scansion["field"]]
    root, dot, attr = text.strip().rpartition(".")
    if not dot or not root:
        raise PlaceholderError(f"placeholder ${{{text}}} must look like NAME.FIELD")
    return root, attr


def check(value: Any, backends: set[str], clients: set[str]) -> None:
    """Raise PlaceholderError for a placeholder no run could fill (a typo); its `path`
    says where in `value` the placeholder is."""
    for path, text in located_strings(value):
        try:
            _check_text(text, backends, clients)
        except PlaceholderError as exc:
            exc.path = path
            raise


def _check_text(text: str, backends: set[str], clients: set[str]) -> None:
    for found in PLACEHOLDER.finditer(text):
        root, attr = parse_name(found[1])
        if root == "prosody":
            allowed = PROSODY_FIELDS
        elif root in backends:
            allowed = BACKEND_FIELDS
        elif root in clients:
            allowed = CLIENT_FIELDS
        else:
            raise PlaceholderError(
                f"${{{found[1]}}}: {root!r} is not a backend, a client or 'prosody'"
            )
        if attr not in allowed:
            raise PlaceholderError(
                f"${{{found[1]}}}: {root} has no {attr!r} (only {', '.join(allowed)})"
            )


def strings(value: Any):
    for _, text in located_strings(value):
        yield text


def located_strings(value: Any, path: tuple = ()):
    """(path, text) for every string in `value`, keys included."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from located_strings(key, path + (key,))
            yield from located_strings(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from located_strings(item, path + (index,))


def resolve(value: Any, variables: dict[str, str]) -> Any:
    """`value` with every placeholder replaced; variables are keyed "root.attr"."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: _lookup(m[1], variables), value)
    if isinstance(value, dict):
        return {resolve(k, variables): resolve(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(item, variables) for item in value]
    return value


def _lookup(text: str, variables: dict[str, str]) -> str:
    root, attr = parse_name(text)
    try:
        return variables[f"{root}.{attr}"]
    except KeyError:
        if attr in ("full_jid", "resource"):
            raise PlaceholderError(
                f"${{{text}}} is not known yet: {root} has not connected"
            ) from None
        raise PlaceholderError(f"${{{text}}} is not known at this point") from None
