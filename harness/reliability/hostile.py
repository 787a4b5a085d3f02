"""Hostile HTTP requests built from an OpenAPI document, as hypothesis strategies.

Each request starts from a sample request for one documented operation (path parameters,
query, a body of the right media type, the surface's credentials) and is then broken in
one way: malformed JSON or XML, wrong types, huge or empty bodies, odd encodings, broken
or duplicated headers, unusual methods, path tricks (`..`, percent-encoding, very long
names) or a broken request line. What each mutation does to the HTTP framing decides what
answers are acceptable (see verdict.py).

Over 400 lines on purpose: it is mostly the catalogue of mutations, one small function
each, and reads best as one list."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from urllib.parse import quote

from hypothesis import strategies as st

from harness.reliability.openapi_index import OpenApiIndex, Operation, sample
from harness.reliability.raw_http import build_request

PROSODY_MAX_CONTENT = 10 * 1024 * 1024  # Prosody's http_max_content_size default
HEAD_LIMIT = 8 * 1024  # beyond this, a server may refuse a request head by closing
ODD_METHODS = [
    "OPTIONS",
    "HEAD",
    "TRACE",
    "CONNECT",
    "PATCH",
    "PUT",
    "DELETE",
    "BREW",
    "get",
    "post",
    "M-SEARCH",
    "X" * 300,
]
WRONG_VALUES: list = [
    None,
    0,
    -1,
    1e308,
    True,
    "",
    "x" * 5000,
    [],
    {},
    [[[]]],
    {"": None},
    "\u0000",
    "\ud800",
]


@dataclass
class SurfaceShape:
    """What a hostile request needs to know of its surface."""

    base_path: str  # e.g. "/admin_rest"
    host: str = "localhost"
    authorization: str | None = None  # the Authorization header of a legitimate caller
    body_limit: int = 1024 * 1024  # the module's own limit
    body_limit_is_the_servers: bool = False  # ...or that of the HTTP server under it


@dataclass
class HostileRequest:
    family: str
    mutation: str
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    version: str = "HTTP/1.1"
    operation: str | None = None  # label of the documented operation it still reaches
    framing_broken: bool = False  # not valid HTTP/1.1: a close without an answer is fine
    oversize: bool = False  # over Prosody's own body limit: it closes the connection
    incomplete: bool = False  # announces more body than it sends: the server may wait
    add_length: bool = True
    notes: dict = field(default_factory=dict)

    @property
    def head_bytes(self) -> int:
        return (
            len(self.method)
            + len(self.target)
            + sum(len(name) + len(value or "") + 4 for name, value in self.headers)
        )

    @property
    def may_be_cut(self) -> bool:
        """A server may answer this by closing the connection: broken framing, a body
        over Prosody's limit, or a head over the usual 8 KiB limit of HTTP servers."""
        return self.framing_broken or self.oversize or self.head_bytes > HEAD_LIMIT

    def to_bytes(self) -> bytes:
        return build_request(
            self.method, self.target, self.headers, self.body, self.version, self.add_length
        )

    def describe(self) -> str:
        body = self.body[:60]
        more = f" +{len(self.body) - 60} bytes" if len(self.body) > 60 else ""
        return (
            f"[{self.family}/{self.mutation}] {self.method[:20]} {self.target[:100]} "
            f"body={body!r}{more}"
        )


def base_request(shape: SurfaceShape, operation: Operation) -> HostileRequest:
    """A legitimate request for the operation: sample values everywhere."""
    path = operation.template
    query = []
    for parameter in operation.parameters:
        value = parameter.get("example", sample(parameter.get("schema")))
        if parameter.get("in") == "path":
            path = path.replace("{" + parameter["name"] + "}", quote(str(value), safe="@"))
        elif parameter.get("in") == "query" and parameter.get("required"):
            query.append(f"{parameter['name']}={quote(str(value), safe='@')}")
    target = shape.base_path + path + ("?" + "&".join(query) if query else "")
    headers = [("Host", shape.host), ("Connection", "close")]
    if shape.authorization:
        headers.append(("Authorization", shape.authorization))
    body = b""
    types = operation.media_types()
    if types:
        media = types[0]
        content = operation.definition["requestBody"]["content"][media]
        value = content.get("example", sample(content.get("schema")))
        body = json.dumps(value).encode() if "json" in media else str(value).encode()
        headers.append(("Content-Type", media))
    return HostileRequest(
        "base", "sample", operation.method, target, headers, body, operation=operation.label
    )


def _with_header(
    request: HostileRequest, name: str, value: str, replace_it: bool = True
) -> list[tuple[str, str]]:
    kept = [(k, v) for k, v in request.headers if not (replace_it and k.lower() == name.lower())]
    return [*kept, (name, value)]


def _content_type(request: HostileRequest) -> str:
    for name, value in request.headers:
        if name.lower() == "content-type":
            return value
    return ""


# -- mutations: (draw, base request, shape) -> hostile request -------------------------

Mutation = Callable[[Callable, HostileRequest, SurfaceShape], HostileRequest]
MUTATIONS: dict[str, tuple[str, Mutation]] = {}


def mutation(family: str, name: str) -> Callable[[Mutation], Mutation]:
    def register(function: Mutation) -> Mutation:
        MUTATIONS[f"{family}/{name}"] = (family, function)
        return function

    return register


def _json_body(base: HostileRequest) -> object:
    try:
        return json.loads(base.body) if base.body else {}
    except ValueError:
        return {}


def _json_request(base: HostileRequest, body: bytes, name: str, **changes) -> HostileRequest:
    headers = _with_header(base, "Content-Type", "application/json")
    return replace(
        base, **{"family": "body", "mutation": name, "headers": headers, "body": body, **changes}
    )


@mutation("body", "json-truncated")
def _json_truncated(draw, base, shape):
    text = json.dumps(_json_body(base) or {"a": [1, "x"]}).encode()
    cut = draw(st.integers(1, max(1, len(text) - 1)))
    return _json_request(base, text[:cut], "json-truncated")


@mutation("body", "json-wrong-type")
def _json_wrong_type(draw, base, shape):
    value = _json_body(base)
    wrong = draw(st.sampled_from(WRONG_VALUES))
    if isinstance(value, dict) and value:
        key = draw(st.sampled_from(sorted(value)))
        value = {**value, key: wrong}
    elif isinstance(value, list) and value:
        value = [wrong, *value[1:]]
    else:
        value = wrong
    return _json_request(base, json.dumps(value).encode(), "json-wrong-type")


@mutation("body", "json-odd")
def _json_odd(draw, base, shape):
    body = draw(
        st.sampled_from(
            [
                b"[" * 20000 + b"]" * 20000,
                b'{"a":' * 5000 + b"1" + b"}" * 5000,
                b"1e999999",
                b'{"a": 1, "a": 2}',
                b'["\\ud800"]',
                b'"\\u0000"',
                b'\xef\xbb\xbf["john"]',
                b'["\xff\xfe"]',
                b"NaN",
                b"[Infinity]",
                b'{"__array": true}',
                b'{"__hash": 1}',
                b"null",
                b"{}",
                b"[]",
                b'[""]',
                b" \t\r\n ",
                b"[1,]",
                b"{'a': 1}",
                b"\x00" * 64,
            ]
        )
    )
    return _json_request(base, body, "json-odd")


@mutation("body", "xml-malformed")
def _xml_malformed(draw, base, shape):
    body = draw(
        st.sampled_from(
            [
                b"<message><body>unclosed",
                b"<message></iq>",
                b"<message to='a@b' to='c@d'/>",
                b"<?xml version='1.0'?><!DOCTYPE m [<!ENTITY a 'aaaaaaaaaa'>"
                b"<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;'><!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;'>]>"
                b"<message><body>&c;</body></message>",
                b"<!DOCTYPE m [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><message><body>&x;</body>"
                b"</message>",
                b"<a>" * 5000 + b"</a>" * 5000,
                b"<message>\x01\x02</message>",
                b"<message xmlns='jabber:client' xmlns='x'/>",
                b"<x:message xmlns:x='jabber:client'/>",
                b"<message><body><![CDATA[x]]></body></message>",
                b"<?pi x?><message/>",
                b"<message a='" + b"x" * 100000 + b"'/>",
                b"<message/><message/>",
                b"\xff\xfe<\x00",
                b"<message><body>\xc3\x28</body></message>",
                b"<iq type='get'/>",
                b"",
            ]
        )
    )
    media = draw(st.sampled_from(["application/xmpp+xml", "application/xml", "text/xml"]))
    headers = _with_header(base, "Content-Type", media)
    return replace(base, family="body", mutation="xml-malformed", headers=headers, body=body)


@mutation("size", "empty")
def _empty(draw, base, shape):
    media = _content_type(base) or draw(st.sampled_from(["application/json", "text/plain"]))
    return replace(
        base,
        family="size",
        mutation="empty",
        body=b"",
        headers=_with_header(base, "Content-Type", media),
    )


@mutation("size", "over-module-limit")
def _over_limit(draw, base, shape):
    body = b'["' + b"a" * (shape.body_limit + 10) + b'"]'
    return _json_request(
        base, body, "over-module-limit", family="size", oversize=shape.body_limit_is_the_servers
    )


@mutation("size", "over-prosody-limit")
def _over_prosody(draw, base, shape):
    body = b"[" + b" " * (PROSODY_MAX_CONTENT + 1024) + b"]"
    return _json_request(base, body, "over-prosody-limit", family="size", oversize=True)


@mutation("encoding", "charset")
def _charset(draw, base, shape):
    media = (_content_type(base) or "application/json").split(";")[0]
    charset = draw(
        st.sampled_from(["utf-16", "latin-1", "x-unknown", "utf-8;;", '"utf-8"', "UTF-8", "utf-32"])
    )
    body = base.body
    if charset in ("utf-16", "utf-32"):
        body = base.body.decode("utf-8", "replace").encode(charset)
    headers = _with_header(base, "Content-Type", f"{media}; charset={charset}")
    return replace(base, family="encoding", mutation="charset", headers=headers, body=body)


@mutation("encoding", "content-encoding")
def _content_encoding(draw, base, shape):
    encoding = draw(st.sampled_from(["gzip", "deflate", "br", "identity, gzip", "x"]))
    headers = _with_header(base, "Content-Encoding", encoding)
    return replace(base, family="encoding", mutation="content-encoding", headers=headers)


@mutation("encoding", "chunked")
def _chunked(draw, base, shape):
    body = base.body or b"[]"
    valid = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    chunked = draw(
        st.sampled_from(
            [
                valid,
                b"zz\r\n" + body + b"\r\n0\r\n\r\n",
                b"%x\r\n%s\r\n" % (len(body) + 5, body),
                b"-1\r\n\r\n",
                b"0" * 100 + b"\r\n\r\n",
            ]
        )
    )
    both = draw(st.booleans())
    headers = _with_header(base, "Transfer-Encoding", "chunked")
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    if both:
        headers.append(("Content-Length", str(len(body))))
    return replace(
        base,
        family="encoding",
        mutation="chunked" + ("+length" if both else ""),
        headers=headers,
        body=chunked,
        add_length=False,
        framing_broken=chunked != valid or both,
        incomplete=chunked != valid,
    )


@mutation("header", "duplicated")
def _duplicated(draw, base, shape):
    name = draw(
        st.sampled_from(
            ["Content-Type", "Content-Length", "Authorization", "Host", "Accept", "Connection"]
        )
    )
    values = {
        "Content-Type": "text/plain",
        "Content-Length": str(len(base.body) + 3),
        "Authorization": "Basic " + base64.b64encode(b"nobody:wrong").decode(),
        "Host": "elsewhere.example",
        "Accept": "application/json",
        "Connection": "close",
    }
    headers = list(base.headers)
    if name == "Content-Length":
        headers.append(("Content-Length", str(len(base.body))))
    headers.append((name, values[name]))
    return replace(
        base,
        family="header",
        mutation=f"duplicated-{name.lower()}",
        headers=headers,
        framing_broken=name == "Content-Length",
    )


@mutation("header", "broken")
def _broken_header(draw, base, shape):
    name, value = draw(
        st.sampled_from(
            [
                ("Broken header line", None),
                ("X-Fold", "a\r\n  folded"),
                ("X-Nul", "a\x00b"),
                ("Bad Name", "x"),
                ("", "no name"),
                ("X-Long", "v" * 60000),
                ("X-Bytes", "\xff\xfe\xc3\x28"),
            ]
        )
    )
    # A line without a colon, a name with a space, folding and a head over the HTTP
    # server's size limit may be answered by closing the connection.
    broken = value is None or name in ("Bad Name", "", "X-Fold", "X-Long")
    return replace(
        base,
        family="header",
        mutation=f"broken-{name or 'empty'}",
        headers=[*base.headers, (name, value)],
        framing_broken=broken,
    )


@mutation("header", "many")
def _many_headers(draw, base, shape):
    count = draw(st.sampled_from([100, 500, 2000]))
    headers = [*base.headers, *((f"X-H{i}", "v") for i in range(count))]
    # Servers limit the number of header fields (100 is common): refusing is fine.
    return replace(
        base, family="header", mutation=f"many-{count}", headers=headers, framing_broken=True
    )


@mutation("header", "credentials")
def _credentials(draw, base, shape):
    value = draw(
        st.sampled_from(
            [
                "Basic",
                "Basic ",
                "Basic !!!!",
                "Basic " + base64.b64encode(b"no-colon").decode(),
                "Basic " + base64.b64encode(b":").decode(),
                "Basic " + "QQ" * 5000,
                "Basic " + base64.b64encode("j\u00f6rg:pw".encode()).decode(),
                "Basic " + base64.b64encode(b"a@b@c:pw\x00").decode(),
                "Bearer",
                "Bearer " + "x" * 8000,
                "Bearer secret-token:",
                "Digest username=x",
                "basic am9objpzM2NyZXQ=",
                "\u00e9",
            ]
        )
    )
    headers = _with_header(base, "Authorization", value)
    return replace(base, family="header", mutation="credentials", headers=headers)


@mutation("header", "content-length")
def _content_length(draw, base, shape):
    value = draw(
        st.sampled_from(
            ["abc", "1.5", "0x10", "99999999999999999999", " 3", "-1", str(len(base.body) + 100)]
        )
    )
    headers = _with_header(base, "Content-Length", value)
    return replace(
        base,
        family="header",
        mutation=f"content-length-{value[:8].strip()}",
        headers=headers,
        add_length=False,
        framing_broken=True,
        incomplete=True,
    )


@mutation("header", "odd-values")
def _odd_values(draw, base, shape):
    name, value = draw(
        st.sampled_from(
            [
                ("Accept", "*/*;q=0"),
                ("Accept", "application/xmpp+xml;q=abc"),
                ("Accept", ","),
                ("Content-Type", ""),
                ("Content-Type", "*/*"),
                ("Content-Type", "application/json;"),
                ("Host", ""),
                ("Host", "localhost:99999"),
                ("Host", "LOCALHOST."),
                ("Expect", "100-continue"),
                ("Connection", "keep-alive, Upgrade"),
                ("Upgrade", "h2c"),
                ("Prosody-Rest-Timeout", "-1"),
                ("Prosody-Rest-Timeout", "1e9"),
                ("X-Forwarded-For", "not-an-address"),
                ("Range", "bytes=0-1"),
            ]
        )
    )
    headers = _with_header(base, name, value)
    return replace(base, family="header", mutation=f"odd-{name.lower()}", headers=headers)


@mutation("method", "unusual")
def _unusual_method(draw, base, shape):
    method = draw(st.sampled_from(ODD_METHODS))
    return replace(
        base, family="method", mutation=f"method-{method[:10]}", method=method, operation=None
    )


@mutation("path", "tricks")
def _path_tricks(draw, base, shape):
    path, _, query = base.target.partition("?")
    trick = draw(
        st.sampled_from(
            [
                "/../../..",
                "/%2e%2e/%2e%2e",
                "/..%2f..%2f",
                "/%00",
                "/%c0%ae%c0%ae",
                "/%252e%252e",
                "//",
                "/",
                "/;x=1",
                "/.",
                "%20",
                "/\\..\\",
                "/%ff%fe",
                "/\u00e9\u00e8",
                "/" + "a" * 4000,
                "/" + "%41" * 1000,
                "?" + "&" * 500,
                "?a[]=1&a[]=2&=&==",
                "#fragment",
            ]
        )
    )
    target = (
        path
        + trick
        + (
            "&" + query
            if query and trick.startswith("?")
            else ("?" + query if query and not trick.startswith("?") else "")
        )
    )
    return replace(
        base,
        family="path",
        mutation="tricks",
        target=target,
        operation=None,
        notes={"trick": trick[:20]},
    )


@mutation("path", "long-name")
def _long_name(draw, base, shape):
    length = draw(st.sampled_from([256, 1024, 3000, 8000]))
    path, _, query = base.target.partition("?")
    segments = path.split("/")
    segments[-1] = quote(draw(st.sampled_from(["a", "\u00e9", "%", "@", " "])) * length, safe="")
    target = "/".join(segments) + ("?" + query if query else "")
    return replace(
        base, family="path", mutation=f"long-name-{length}", target=target, operation=None
    )


@mutation("request-line", "broken")
def _request_line(draw, base, shape):
    version, target, framing = draw(
        st.sampled_from(
            [
                ("HTTP/1.0", base.target, False),
                ("", base.target, True),
                ("HTTP/2.0", base.target, True),
                ("HTTP/1.1x", base.target, True),
                ("HTTP/1.1", "*", False),
                ("HTTP/1.1", "http://localhost" + base.target, False),
                ("HTTP/1.1", base.target + " extra", True),
                ("HTTP/9.9", base.target, True),
            ]
        )
    )
    return replace(
        base,
        family="request-line",
        mutation=f"version-{version or 'none'}",
        version=version,
        target=target,
        operation=None,
        framing_broken=framing,
    )


@mutation("request-line", "garbage")
def _garbage(draw, base, shape):
    data = draw(
        st.sampled_from(
            [
                b"\x00\x01\x02\xff garbage",
                b"\x16\x03\x01\x00\xa5\x01",
                b"GET",
                b"\r\n\r\n\r\n",
                b"PRI * HTTP/2.0\r\n\r\nSM",
            ]
        )
    )
    return HostileRequest(
        "request-line",
        "garbage",
        "",
        data.decode("latin-1"),
        [],
        version="",
        framing_broken=True,
        add_length=False,
    )


@st.composite
def hostile_requests(
    draw, index: OpenApiIndex, shape: SurfaceShape, skip: frozenset[str] = frozenset()
) -> HostileRequest:
    """One hostile request for a random documented operation of `index`."""
    operation = draw(st.sampled_from(index.operations))
    name = draw(st.sampled_from(sorted(key for key in MUTATIONS if key not in skip)))
    family, build = MUTATIONS[name]
    return build(draw, base_request(shape, operation), shape)
