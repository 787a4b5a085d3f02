"""Parsing Prosody's log text: entries, continuation lines, incremental feeding."""

from __future__ import annotations

from harness.prosody_log import LogReader, parse_log, tail

TRACEBACK = (
    "Nov 22 02:50:36 http.server\terror\tTraceback[httpserver]: mod_x.lua:10: boom\n"
    "\tstack traceback:\n"
    "\t[C]: in function 'error'\n"
    "\tmod_x.lua:10: in function <mod_x.lua:9>\n"
    "Nov 22 02:50:36 c2s55d8\tinfo\tClient connected\n"
)


def test_entries_are_split_into_level_source_and_message():
    (line,) = parse_log("Nov  2 09:05:01 localhost:http_roster_admin\twarn\tbad entry: x\n")
    assert (line.level, line.source, line.message) == (
        "warn",
        "localhost:http_roster_admin",
        "bad entry: x",
    )
    assert not line.is_error


def test_traceback_lines_stay_with_their_entry():
    failure, connected = parse_log(TRACEBACK)
    assert failure.level == "error" and failure.is_error
    assert failure.message.splitlines()[1:] == [
        "\tstack traceback:",
        "\t[C]: in function 'error'",
        "\tmod_x.lua:10: in function <mod_x.lua:9>",
    ]
    assert connected.message == "Client connected" and not connected.is_error


def test_a_traceback_below_error_level_still_counts_as_an_error():
    (line,) = parse_log(
        "Nov 22 02:50:36 localhost:x\twarn\todd: stack traceback:\n\tx.lua:3: in main chunk\n"
    )
    assert line.level == "warn" and line.is_error


def test_feeding_in_pieces_gives_the_same_lines():
    reader = LogReader()
    for start in range(0, len(TRACEBACK), 7):  # cuts inside lines and inside the traceback
        reader.feed(TRACEBACK[start : start + 7])
    assert [(x.level, x.message) for x in reader.lines] == [
        (x.level, x.message) for x in parse_log(TRACEBACK)
    ]


def test_an_unfinished_last_line_waits_for_its_end():
    reader = LogReader()
    reader.feed("Nov 22 02:50:36 general\tinfo\tHal")
    assert reader.lines == []
    reader.feed("f a line\n")
    assert reader.lines[0].message == "Half a line"


def test_text_before_any_entry_is_kept_as_an_error():
    # e.g. Lua complaining on stdout before Prosody's logging is set up
    (line,) = parse_log("lua5.4: /etc/prosody/x.cfg.lua:3: syntax error\n")
    assert line.level == "error" and "syntax error" in line.message


def test_tail_skips_debug_noise_but_never_errors():
    text = "".join(f"Nov 22 02:50:36 s\tdebug\tnoise {i}\n" for i in range(30))
    text += "Nov 22 02:50:36 s\tinfo\tuseful\n" + TRACEBACK
    shown = tail(parse_log(text), count=3)
    assert "noise" not in shown
    assert shown.splitlines()[0].endswith("useful")
    assert "stack traceback" in shown
