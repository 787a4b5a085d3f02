"""Reading scansion scripts (.scs, Prosody's own scripted-test language) as scenarios.

    # Title of the test
    # More lines of description
    ## a tag
    ## status: stable

    [Client] Juliet's phone
        jid: juliet@localhost/phone
        password: password

    -----

    Juliet's phone connects

    Juliet's phone sends:
        <message to="romeo@localhost" type="chat"><body>Hi</body></message>

    Juliet's phone receives:
        <presence from="${Juliet's phone's full JID}"/>

    Juliet's phone receives: nothing

    Juliet's phone disconnects

The language, as scansion defines it:

- Metadata: the leading `#` lines give the title (the first) and the description (the
  rest); `##` lines give tags. Every other line starting with `#`, `//` or `--` (lines of
  dashes included) is a comment, wherever it stands.
- Characters: `[Client] NAME` (a name may hold spaces and apostrophes) and its indented
  `key: value` properties: `jid` (a full JID also names the resource), `password`,
  `resource`, and `connect_host`/`connect_port`, accepted and ignored (the harness
  connects each client to the server under test).
- Actions: `NAME connects`, `NAME disconnects`, `NAME sends` and `NAME receives` (the
  colon is optional) with the stanza on the same line or indented below, and
  `NAME receives: nothing`. Several stanzas under `sends` are sent in turn; several
  under `receives` are the next stanzas, in any order.
- Variables: `${NAME's JID}`, `${NAME's full JID}`, `${NAME's resource}`.
- Matching: scansion's (harness.matching.scansion_mismatch): `scansion:strict`,
  `{scansion:any}` and `{scansion:capture:NAME}` as scansion has them; each `receives`
  goes through the stanzas the client got until one matches (harness.scenario.steps
  .client; docs/scansion-corpus.md says where scansion's documentation is silent).

The script becomes the same document a YAML file would give (with `matching: scansion`),
checked by the same rules, so every error names the script's own file:line.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from harness import stanza
from harness.matching import SCANSION_NS
from harness.scenario.source import LocatedDocument, ScenarioError

CHARACTER = re.compile(r"^\[(?P<cls>[^\]]*)\]\s*(?P<name>.*?)\s*$")
CLASSES = ("Client",)
CLIENT_KEYS = ("jid", "password", "resource", "connect_host", "connect_port")
IGNORED_KEYS = ("connect_host", "connect_port")  # the harness says where to connect
VERB = re.compile(r"^(?P<verb>connects|disconnects|sends|receives)(?:\s*:\s*|\s+|$)(?P<rest>.*)$")
ANY_ACTION = re.compile(r"^(?P<name>.+?)\s+(?:connects|disconnects|sends|receives)\b")
COMMENT_PREFIXES = ("#", "//", "--")
SCANSION_PREFIX = re.compile(r"\sscansion:[A-Za-z_]")


def read_scansion(file: str, text: str) -> LocatedDocument:
    """The script as the document a YAML scenario file would give (with its lines)."""
    return _Reader(file, text.splitlines()).document()


def _is_comment(line: str) -> bool:
    return line.startswith(COMMENT_PREFIXES)


class _Reader:
    def __init__(self, file: str, lines: list[str]) -> None:
        self.file = file
        self.lines = lines
        self.doc = LocatedDocument(file, None)
        self.clients: dict[str, dict[str, str]] = {}
        self.steps: list = []
        # Declared names, longest first: "Juliet's phone connects" is Juliet's phone's.
        names = [m["name"] for line in lines if (m := CHARACTER.match(line)) and m["name"]]
        self.names = sorted(set(names), key=len, reverse=True)

    def error(self, number: int, message: str) -> ScenarioError:
        return ScenarioError(self.file, number, message)

    def document(self) -> LocatedDocument:
        title, description, tags, index = self._header()
        stem = self.file.rsplit("/", 1)[-1].removesuffix(".scs")
        data: dict = {"name": title or stem, "matching": "scansion", "clients": self.clients}
        self.doc.lines[("name",)] = 1
        if description:
            data["description"] = description
        while index < len(self.lines):
            index = self._statement(index, tags)
        if tags:
            data["tags"] = tags
        data["steps"] = self.steps
        self.doc.data = data
        self.doc.lines.setdefault((), 1)
        return self.doc

    def _header(self) -> tuple[str, str, list[str], int]:
        """The leading `#` lines: title, description; `##` lines among them are tags."""
        comments: list[str] = []
        tags: list[str] = []
        index = 0
        while index < len(self.lines) and self.lines[index].startswith("#"):
            line = self.lines[index]
            if line.startswith("##"):
                tags.append(line[2:].strip())
            else:
                comments.append(line[1:].strip())
            index += 1
        title = comments[0] if comments else ""
        return title, " ".join(c for c in comments[1:] if c), tags, index

    def _statement(self, index: int, tags: list[str]) -> int:
        """Read the statement at `index`; the index of the line after it."""
        line = self.lines[index]
        number = index + 1
        stripped = line.strip()
        if not stripped:
            return index + 1
        if line.startswith("##"):
            tags.append(line[2:].strip())
            return index + 1
        if _is_comment(line):
            return index + 1
        if line[:1].isspace():
            raise self.error(
                number,
                f"indented line outside a block: {stripped!r} (a stanza "
                "goes below its action; properties below their [Client] line)",
            )
        character = CHARACTER.match(stripped)
        if character:
            return self._character(index, character["cls"], character["name"])
        return self._action(index, stripped)

    # -- characters ------------------------------------------------------------------

    def _character(self, index: int, cls: str, name: str) -> int:
        number = index + 1
        if cls not in CLASSES:
            raise self.error(
                number,
                f"unknown character class [{cls}] (scansion scripts "
                f"here may declare: {', '.join(f'[{c}]' for c in CLASSES)})",
            )
        if not name:
            raise self.error(number, "[Client] needs a name: [Client] Romeo")
        if name in self.clients:
            raise self.error(number, f"client {name!r} is declared twice")
        spec: dict[str, str] = {}
        self.doc.lines[("clients", name)] = number
        block, after = self._block(index + 1)
        for line_number, line in block:
            key, colon, value = line.strip().partition(":")
            key = key.strip()
            if not colon or key not in CLIENT_KEYS:
                raise self.error(
                    line_number,
                    f"[Client] {name}: expected one of "
                    f"{', '.join(CLIENT_KEYS)} as 'key: value', got {line.strip()!r}",
                )
            if key in spec:
                raise self.error(line_number, f"[Client] {name}: {key} is given twice")
            if key not in IGNORED_KEYS:
                spec[key] = value.strip()
                self.doc.lines[("clients", name, key)] = line_number
        for required in ("jid", "password"):
            if required not in spec:
                raise self.error(number, f"[Client] {name} needs a {required}: line")
        bare, slash, resource = spec["jid"].partition("/")
        if slash:  # a full JID names the resource too
            if spec.get("resource", resource) != resource:
                raise self.error(
                    self.doc.lines[("clients", name, "resource")],
                    f"[Client] {name}: resource {spec['resource']!r} "
                    f"differs from the one in its jid ({resource!r})",
                )
            spec["jid"], spec["resource"] = bare, resource
        self.clients[name] = spec
        return after

    # -- actions ---------------------------------------------------------------------

    def _action(self, index: int, stripped: str) -> int:
        number = index + 1
        name = next((n for n in self.names if stripped.startswith(n + " ")), None)
        verb = VERB.match(stripped[len(name) + 1 :].strip()) if name else None
        if verb is None:
            unknown = ANY_ACTION.match(stripped)
            if not unknown or name:
                raise self.error(
                    number,
                    f"not a scansion action: {stripped!r} (expected "
                    "'NAME connects|disconnects|sends:|receives:' or '[Client] NAME')",
                )
            # An undeclared name: the step parser says so, naming the declared ones.
            name, verb = unknown["name"], VERB.match(stripped[len(unknown["name"]) :].strip())
            assert verb is not None
        self.doc.lines[("steps", len(self.steps))] = number
        kind, rest = verb["verb"], verb["rest"].strip()
        if kind in ("connects", "disconnects"):
            if rest:
                raise self.error(number, f"'{name} {kind}' takes nothing after it, got {rest!r}")
            self.steps.append(f"{name} {kind}")
            return index + 1
        block, after = self._block(index + 1)
        if kind == "receives" and rest.lower() == "nothing" and not block:
            self.steps.append(f"{name} receives nothing")
            return after
        stanzas = self._stanzas(number, rest, block, f"{name} {kind}")
        if kind == "sends":
            for one in stanzas:
                self.doc.lines[("steps", len(self.steps))] = number
                self.steps.append({f"{name} sends": one})
        else:
            self.steps.append({f"{name} receives": stanzas if len(stanzas) > 1 else stanzas[0]})
        return after

    def _block(self, index: int) -> tuple[list[tuple[int, str]], int]:
        """The indented lines from `index`, with their numbers (blank lines and comments
        between them are skipped); the index of the first line after the block."""
        block: list[tuple[int, str]] = []
        while index < len(self.lines):
            line = self.lines[index]
            if line[:1].isspace() and line.strip():
                block.append((index + 1, line))
            elif line.strip() and (not _is_comment(line) or line.startswith("##")):
                break
            index += 1
        return block, index

    def _stanzas(
        self, number: int, rest: str, block: list[tuple[int, str]], what: str
    ) -> list[str]:
        """The stanzas of an action's text, each checked to be well-formed XML (with the
        `scansion:` prefix declared), errors at the line they are on."""
        body_lines = ([(number, rest)] if rest else []) + block
        if not body_lines:
            raise self.error(number, f"'{what}' needs a stanza, on its line or indented below")
        body = "\n".join(line for _, line in body_lines)
        opening = f'<wrapper xmlns="{stanza.CLIENT_NS}" xmlns:scansion="{SCANSION_NS}">'
        try:
            wrapper = ET.fromstring(f"{opening}\n{body}\n</wrapper>")
        except ET.ParseError as exc:
            row = exc.position[0] - 2  # the opening line, then the body's first line
            # Past the body (an element left open): the action's own line.
            where = body_lines[row][0] if 0 <= row < len(body_lines) else number
            message = re.sub(r": line \d+, column \d+$", "", str(exc))
            raise self.error(where, f"invalid XML in '{what}': {message}") from None
        if wrapper.text and wrapper.text.strip() or any(c.tail and c.tail.strip() for c in wrapper):
            raise self.error(number, f"'{what}': text outside a stanza: {body.strip()[:80]!r}")
        children = list(wrapper)
        if not children:
            raise self.error(number, f"'{what}' needs a stanza, on its line or indented below")
        if len(children) == 1:
            return [_declare_scansion(body.strip())]
        ET.register_namespace("scansion", SCANSION_NS)
        return [stanza.tostring(child) for child in children]


def _declare_scansion(xml: str) -> str:
    """`xml` with the `scansion:` prefix declared on its root, when it uses it."""
    if not SCANSION_PREFIX.search(xml) or "xmlns:scansion=" in xml:
        return xml
    return re.sub(r"^(<[^\s/>]+)", rf'\1 xmlns:scansion="{SCANSION_NS}"', xml, count=1)
