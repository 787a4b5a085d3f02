"""The sandbox's log reads as Prosody's: each message formatted once, by util.format."""

from __future__ import annotations

import pytest


def _logged(sandbox, level, fmt, *args):
    sandbox.fire_event("probe/log", {"level": level, "format": fmt, "args": list(args)})
    line = sandbox.log()[-1]
    assert line.source == "localhost:probe_log" and line.level == level
    return line.message


@pytest.fixture
def box(sandbox):
    sandbox.load_module("probe_log")
    return sandbox


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/auth?userJID=alice%40localhost",
        "http://127.0.0.1:9/auth?userJID=alice%40localhost&room=r%2F1",
    ],
)
def test_percent_escapes_in_arguments_are_kept(box, url):
    assert _logged(box, "info", "asking %s", url) == f"asking {url}"


def test_format_specifiers_only_in_the_format_string(box):
    assert _logged(box, "warn", "%d of %s", 3, "100%s") == "3 of 100%s"
    assert _logged(box, "debug", "100%% sure") == "100% sure"


def test_missing_arguments_read_as_prosody_writes_them(box):
    assert _logged(box, "error", "got %s and %s", "one") == "got one and (nil)"


def test_control_characters_are_made_visible(box):
    assert _logged(box, "info", "byte: %s", "a\x01b") == "byte: a\u2401b"
    assert _logged(box, "info", "line: %s", "a\nb") == "line: a\n\tb"  # continuation line
