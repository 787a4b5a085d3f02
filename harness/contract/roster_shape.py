"""A roster document (`200 OK` to mod_http_roster_admin's GET) judged as the module reads it:
a JSON object of contact JID -> {name, groups}; a bad entry is skipped, anything but an
object fails the whole fetch. See lua_modules/mod_http_roster_admin/README.markdown."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from jsonschema import Draft202012Validator

from harness.contract import jid
from harness.contract.findings import CheckReport, Exchange, Severity

#: One roster entry, as the module accepts it (anything else about the entry is ignored).
ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": ["string", "null"]},
        "groups": {
            "oneOf": [
                {"type": "null"},
                {"type": "array", "items": {"type": "string", "minLength": 1}},
                {
                    "type": "object",
                    "propertyNames": {"minLength": 1},
                    "additionalProperties": {"type": "boolean"},
                },
            ]
        },
    },
}
ITEM_VALIDATOR = Draft202012Validator(ITEM_SCHEMA)
KNOWN_FIELDS = ("name", "groups")
MAX_LISTED = 5

FETCH_FAILS = (
    "the fetch fails: the user's roster request gets an error of type wait "
    "(internal-server-error) and is fetched again at the next request; a refresh "
    "counts the user in 'errors' and keeps the old roster"
)
SKIPPED = (
    "the module skips each of these with a warning in Prosody's log at every fetch; "
    "the rest of the roster is kept"
)


def _entry_problem(data: Any) -> str | None:
    """The module's reason for skipping an entry with this value, or None."""
    errors = sorted(ITEM_VALIDATOR.iter_errors(data), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    where = list(errors[0].absolute_path)
    if not where:
        return "contact data must be a JSON object"
    if where[0] == "name":
        return "name must be a string"
    groups = data.get("groups")
    if isinstance(groups, list):
        return "groups must hold non-empty strings"
    if isinstance(groups, dict):
        return "a groups object must map non-empty names to true or false"
    return "groups must be an array or an object"


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def _duplicate_keys(pairs: list[tuple[str, Any]], seen: list[str]) -> dict[str, Any]:
    counts = Counter(key for key, _ in pairs)
    seen.extend(key for key, count in counts.items() if count > 1)
    return dict(pairs)


def decode(exchange: Exchange, report: CheckReport) -> tuple[Any, list[str]] | None:
    """The decoded document and its duplicated keys, or None (with a finding)."""
    body = exchange.body
    if body.startswith(b"\xef\xbb\xbf"):
        report.add(
            Severity.VIOLATION,
            "roster.bom",
            "the body starts with a UTF-8 byte order mark",
            "Prosody's JSON decoder does not skip it: " + FETCH_FAILS,
            probe=exchange.probe,
            hint="send the JSON without a BOM",
        )
        return None
    duplicates: list[str] = []
    try:
        text = body.decode("utf-8")
        data = json.loads(text, object_pairs_hook=lambda p: _duplicate_keys(p, duplicates))
    except UnicodeDecodeError:
        report.add(
            Severity.VIOLATION,
            "roster.not-utf8",
            "the body is not UTF-8",
            FETCH_FAILS,
            probe=exchange.probe,
        )
        return None
    except ValueError as exc:
        report.add(
            Severity.VIOLATION,
            "roster.not-json",
            f"the body is not JSON ({exc.msg}): {exchange.excerpt(80)!r}",
            FETCH_FAILS + " (logged: 'roster service sent invalid JSON')",
            probe=exchange.probe,
            upstream="upstream's lua-cjson raised an error on it (a traceback)",
        )
        return None
    return data, duplicates


def judge(
    exchange: Exchange, username: str, domain: str | None, report: CheckReport
) -> tuple[int, dict[str, dict[str, Any]]] | None:
    """Findings for a 200 answer; the number of entries and the contacts the module keeps
    (prepped JID -> data), or None when the whole document is refused."""
    decoded = decode(exchange, report)
    if decoded is None:
        return None
    data, duplicates = decoded
    probe = exchange.probe
    if not isinstance(data, dict):
        shape = "an array" if isinstance(data, list) else f"a JSON {type(data).__name__}"
        report.add(
            Severity.VIOLATION,
            "roster.not-object",
            f"the body is {shape}, not an object of contacts",
            FETCH_FAILS + " (logged: 'expected a JSON object mapping contact JIDs to "
            "contact data')",
            probe=probe,
            hint='answer {} for a user without contacts, {"jid": {...}} otherwise',
        )
        return None
    kept: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    renamed: list[str] = []
    ignored: Counter[str] = Counter()
    for key, value in data.items():
        prepped = jid.prep_bare(key)
        problem = None if prepped else "not a valid bare JID"
        if prepped and (
            prepped.split("@", 1)[0] == username
            and "@" in prepped
            and (domain is None or prepped.split("@", 1)[1] == domain)
        ):
            where = f"@{domain}" if domain else " (if that is Prosody's host)"
            report.add(
                Severity.WARNING,
                "roster.self-contact",
                f"contact {key!r} is the user {username}{where} themselves",
                "a user cannot be their own contact: the module skips it with a "
                "warning in the log at every fetch",
                probe=probe,
            )
            continue
        problem = problem or _entry_problem(value)
        if problem:
            skipped.append(f"{key!r} ({problem})")
            continue
        assert prepped is not None
        if prepped != key:
            renamed.append(f"{key!r} -> {prepped!r}")
        if prepped in kept:
            duplicates.append(prepped)
        kept[prepped] = value
        ignored.update(name for name in value if name not in KNOWN_FIELDS)
    if skipped:
        report.add(
            Severity.VIOLATION,
            "roster.entry-skipped",
            f"{len(skipped)} contact(s) of {username} the module cannot use: {_listing(skipped)}",
            SKIPPED,
            probe=probe,
            hint="keys are bare JIDs (user@domain); values are objects with an "
            "optional name (string) and groups (array of names, or an object "
            "of name -> true/false)",
        )
    if duplicates:
        report.add(
            Severity.WARNING,
            "roster.duplicate-contact",
            f"the same contact appears more than once: {_listing(sorted(set(duplicates)))}",
            "only one of the entries is kept, and which one is not defined",
            probe=probe,
        )
    if renamed:
        report.add(
            Severity.INFO,
            "roster.jid-normalised",
            f"contact JIDs not in their normal form: {_listing(renamed)}",
            "the module uses the normalised form; the roster shows it",
            probe=probe,
        )
    if ignored:
        fields = _listing(sorted(ignored))
        subscription = (
            " (every contact has subscription 'both': a 'subscription' field changes nothing)"
            if "subscription" in ignored or "ask" in ignored
            else ""
        )
        report.add(
            Severity.INFO,
            "roster.ignored-fields",
            f"contact fields the module does not read: {fields}",
            "ignored" + subscription,
            probe=probe,
        )
    return len(data), kept
