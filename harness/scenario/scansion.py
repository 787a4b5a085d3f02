"""Reading scansion scripts (.scs, Prosody's own scripted-test format) as scenarios.

    # Title of the test
    # More lines of description

    [Client] Romeo
        jid: romeo@localhost
        password: password

    -----

    Romeo connects

    Romeo sends:
        <message to="juliet@localhost" type="chat"><body>Hi</body></message>

    Romeo receives:
        <presence from="${Romeo's full JID}"/>

    Romeo receives: nothing

    Romeo disconnects

The leading `#` lines give the scenario's name and description; later `#` lines and
lines of dashes are comments. A block of several stanzas under `receives:` is matched in
any order. The script becomes the same document a YAML file would give, checked by the
same rules, so errors carry the script's own line numbers.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from harness import stanza
from harness.scenario.source import LocatedDocument, ScenarioError

CLIENT_HEADER = re.compile(r"^\[Client\]\s+(?P<name>.+?)\s*$")
ACTION = re.compile(
    r"^(?P<name>.+?)\s+(?P<verb>connects|disconnects|sends:|receives:)\s*(?P<rest>.*)$"
)
CLIENT_KEYS = ("jid", "password", "resource")


def read_scansion(file: str, text: str) -> LocatedDocument:
    """The script as the document a YAML scenario file would give (with its lines)."""
    lines = text.splitlines()
    doc = LocatedDocument(file, None)
    title, description, index = _header(lines)
    data: dict = {"name": title or file.rsplit("/", 1)[-1].removesuffix(".scs"), "clients": {}}
    if description:
        data["description"] = description
    steps: list = []
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        number = index + 1
        index += 1
        if not stripped or stripped.startswith("#") or set(stripped) <= {"-"}:
            continue
        if line[:1].isspace():
            raise ScenarioError(file, number, f"indented line outside a block: {stripped!r}")
        header = CLIENT_HEADER.match(stripped)
        if header:
            index = _client(lines, index, header["name"], data["clients"], doc)
            doc.lines[("clients", header["name"])] = number
            continue
        action = ACTION.match(stripped)
        if not action:
            raise ScenarioError(
                file,
                number,
                f"not a scansion action: {stripped!r} (expected "
                "'NAME connects|disconnects|sends:|receives:' or '[Client] NAME')",
            )
        name, verb, rest = action["name"], action["verb"], action["rest"].strip()
        doc.lines[("steps", len(steps))] = number
        if verb in ("connects", "disconnects"):
            steps.append(f"{name} {verb}")
            continue
        block, index = _block(lines, index)
        body = "\n".join([rest, *block]).strip()
        if verb == "receives:" and body == "nothing":
            steps.append(f"{name} receives nothing")
            continue
        if not body:
            raise ScenarioError(file, number, f"'{name} {verb}' needs an indented stanza below it")
        stanzas = _split_stanzas(file, number, body)
        if verb == "sends:":
            steps += [{f"{name} sends": one} for one in stanzas]
            for extra in range(1, len(stanzas)):
                doc.lines[("steps", len(steps) - len(stanzas) + extra)] = number
        else:
            steps.append({f"{name} receives": stanzas if len(stanzas) > 1 else stanzas[0]})
    data["steps"] = steps
    doc.data = data
    doc.lines.setdefault((), 1)
    return doc


def _header(lines: list[str]) -> tuple[str, str, int]:
    """The leading comment block: first line the title, the rest the description."""
    comments, index = [], 0
    while index < len(lines) and lines[index].startswith("#"):
        comments.append(lines[index].lstrip("#").strip())
        index += 1
    title = comments[0] if comments else ""
    return title, " ".join(c for c in comments[1:] if c), index


def _client(lines: list[str], index: int, name: str, clients: dict, doc: LocatedDocument) -> int:
    spec: dict[str, str] = {}
    while index < len(lines) and (lines[index][:1].isspace() or not lines[index].strip()):
        stripped = lines[index].strip()
        index += 1
        if not stripped or stripped.startswith("#"):
            continue
        key, colon, value = stripped.partition(":")
        if not colon or key.strip() not in CLIENT_KEYS:
            raise ScenarioError(
                doc.file,
                index,
                f"[Client] {name}: expected one of "
                f"{', '.join(CLIENT_KEYS)} as 'key: value', got {stripped!r}",
            )
        spec[key.strip()] = value.strip()
        doc.lines[("clients", name, key.strip())] = index
    if name in clients:
        raise ScenarioError(doc.file, index, f"client {name!r} is declared twice")
    if "/" in spec.get("jid", ""):  # a full JID names the resource too
        spec["jid"], spec["resource"] = spec["jid"].split("/", 1)
    clients[name] = spec
    return index


def _block(lines: list[str], index: int) -> tuple[list[str], int]:
    """The indented lines after an action (blank lines inside the block are kept)."""
    block: list[str] = []
    while index < len(lines) and (lines[index][:1].isspace() or not lines[index].strip()):
        block.append(lines[index])
        index += 1
    while block and not block[-1].strip():
        block.pop()
    return block, index


def _split_stanzas(file: str, number: int, body: str) -> list[str]:
    try:
        wrapper = ET.fromstring(f'<wrapper xmlns="{stanza.CLIENT_NS}">{body}</wrapper>')
    except ET.ParseError as exc:
        raise ScenarioError(file, number, f"invalid XML: {exc}") from None
    children = list(wrapper)
    if len(children) <= 1:
        return [body]
    return [stanza.tostring(child) for child in children]
