"""The HTML report: index.html (each file's figures per target and Prosody version, and
the lines only some targets ran) and a static page per file with every line marked run,
not run or not executable, and how often each target ran it. No script, no external
file: the pages open from disk and can be archived as CI artifacts."""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable

from harness.coverage.summary import FileFigures, Summary, percent

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; }
th, td { padding: 0.15em 0.6em; text-align: right; }
th { background: #eee; } td.name, th.name { text-align: left; }
tr.total td { font-weight: bold; border-top: 1px solid #999; }
.bar { display: inline-block; width: 5em; height: 0.7em; background: #e88; }
.bar span { display: block; height: 100%; background: #6b6; }
table.source { font-family: monospace; width: 100%; }
table.source td { padding: 0 0.5em; white-space: pre; }
table.source td.code { text-align: left; width: 100%; }
tr.run td.code { background: #dfd; } tr.missed td.code { background: #fcc; }
tr.partial td.code { background: #ffe8a8; }
td.count { color: #666; } td.zero { color: #c00; }
.note { color: #555; }
"""
LEGEND = (
    '<p class="note">Green: run (by every target listed); yellow: run by some targets only; '
    "red: executable, not run; white: not executable (comments, declarations, code no path "
    "reaches). Counts are times run.</p>"
)


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def page_name(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", path) + ".html"


def _bar(ran: int, lines: int) -> str:
    share = percent(ran, lines)
    return f'<span class="bar"><span style="width:{share:.0f}%"></span></span>'


def _cell(ran: int, lines: int) -> str:
    return f"<td>{ran}</td><td>{percent(ran, lines):.1f}% {_bar(ran, lines)}</td>"


def index_html(summary: Summary, generated: str) -> str:
    labels = [run.label for run in summary.runs]
    head = "".join(f'<th colspan="2">{html.escape(label)}</th>' for label in labels)
    rows = []
    for figures in summary.files:
        link = f'<a href="{page_name(figures.path)}">{html.escape(figures.path)}</a>'
        problem = f' <span class="note">({html.escape(figures.problem)})</span>'
        rows.append(
            f'<tr><td class="name">{link}{problem if figures.problem else ""}</td>'
            f"<td>{len(figures.executable)}</td>"
            + "".join(_cell(len(figures.run.get(lb, ())), len(figures.executable)) for lb in labels)
            + "</tr>"
        )
    if labels:
        lines = summary.totals(labels[0])[1]
        rows.append(
            f'<tr class="total"><td class="name">total</td><td>{lines}</td>'
            + "".join(_cell(summary.totals(lb)[0], lines) for lb in labels)
            + "</tr>"
        )
    runs = "".join(
        f"<li>{html.escape(run.label)}: {run.scenarios} scenario(s) run on {run.servers} "
        f"server(s), {html.escape(run.date)}"
        + (" (kept from an earlier run)" if run.label in summary.data.kept else "")
        + "</li>"
        for run in summary.runs
    )
    body = [
        f"<h1>Line coverage of {html.escape(summary.data.modules_dir)}</h1>",
        f'<p class="note">prosody-harness run --coverage, {html.escape(generated)}. '
        "Executable lines come from the compiled code (luac 5.4).</p>",
        f"<ul>{runs}</ul>",
        f'<table><tr><th class="name">file</th><th>lines</th>{head}</tr>'
        + "".join(rows)
        + "</table>",
    ]
    if summary.not_loaded:
        body.append(
            "<p>Not loaded by any target: "
            + ", ".join(html.escape(p) for p in summary.not_loaded)
            + "</p>"
        )
    body.append(_differences_html(summary))
    return _page("Line coverage", "".join(body))


def _differences_html(summary: Summary) -> str:
    title = "<h2>Lines run on some targets only</h2>"
    if not summary.differences:
        compared = len({(run.version, run.run_id) for run in summary.runs}) < len(summary.runs)
        text = (
            "Every target of the same Prosody version ran the same lines."
            if compared
            else "Only one target per Prosody version ran: nothing to compare."
        )
        return f'{title}<p class="note">{text}</p>'
    sources = _SourceCache(summary.data.modules_dir)
    rows = "".join(
        f"<tr><td>{html.escape(d.version)}</td>"
        f'<td class="name"><a href="{page_name(d.path)}#L{d.line}">'
        f"{html.escape(d.path)}:{d.line}</a></td>"
        f'<td class="name">{", ".join(d.ran_on)}</td>'
        f'<td class="name">{", ".join(d.not_on)}</td>'
        f'<td class="name"><code>{html.escape(sources.line(d.path, d.line).strip())}'
        "</code></td></tr>"
        for d in summary.differences
    )
    limited = summary.data.limited
    note = (
        f" Scenarios run on some of the targets only: {html.escape(', '.join(limited))}."
        if limited
        else ""
    )
    return (
        f'{title}<p class="note">The same scenarios ran on each target; a line that one '
        "ran and another did not is a difference in behaviour (or a scenario limited to "
        f"some targets, or timing).{note}</p>"
        '<table><tr><th>Prosody</th><th class="name">line</th><th class="name">run on</th>'
        f'<th class="name">not on</th><th class="name">source</th></tr>{rows}</table>'
    )


class _SourceCache:
    def __init__(self, root: str) -> None:
        self.root = root
        self._lines: dict[str, list[str]] = {}

    def lines(self, path: str) -> list[str]:
        if path not in self._lines:
            try:
                with open(
                    os.path.join(self.root, path), encoding="utf-8", errors="replace"
                ) as handle:
                    self._lines[path] = handle.read().splitlines()
            except OSError:
                self._lines[path] = []
        return self._lines[path]

    def line(self, path: str, number: int) -> str:
        lines = self.lines(path)
        return lines[number - 1] if 0 < number <= len(lines) else ""


def file_html(summary: Summary, figures: FileFigures) -> str:
    labels = [run.label for run in summary.runs]
    counts = {run.label: run.files.get(figures.path, {}) for run in summary.runs}
    source = _SourceCache(summary.data.modules_dir).lines(figures.path)
    rows = []
    for number, text in enumerate(source, 1):
        executable = number in figures.executable
        ran_by = [lb for lb in labels if number in figures.run.get(lb, ())]
        kind = (
            ""
            if not executable
            else ("missed" if not ran_by else "run" if len(ran_by) == len(labels) else "partial")
        )
        cells = "".join(_count_cell(executable, counts[lb].get(number, 0)) for lb in labels)
        rows.append(
            f'<tr id="L{number}" class="{kind}"><td><a href="#L{number}">{number}</a></td>'
            f'{cells}<td class="code">{html.escape(text)}</td></tr>'
        )
    head = "".join(f"<th>{html.escape(label)}</th>" for label in labels)
    figures_line = ", ".join(
        f"{html.escape(lb)}: {len(figures.run.get(lb, ()))} of {len(figures.executable)} "
        f"({figures.percent(lb):.1f}%)"
        for lb in labels
    )
    body = (
        f'<p><a href="index.html">index</a></p><h1>{html.escape(figures.path)}</h1>'
        f"<p>{figures_line}</p>{LEGEND}"
        f'<table class="source"><tr><th>line</th>{head}<th class="name">source</th></tr>'
        + "".join(rows)
        + "</table>"
    )
    return _page(figures.path, body)


def _count_cell(executable: bool, times: int) -> str:
    if not executable:
        return '<td class="count"></td>' if not times else f'<td class="count">{times}</td>'
    return f'<td class="count{" zero" if not times else ""}">{times}</td>'


def write_html(summary: Summary, directory: str, generated: str) -> list[str]:
    """index.html and a page per file in `directory`; the paths written."""
    written = []
    for name, text in _pages(summary, generated):
        path = os.path.join(directory, name)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        written.append(path)
    return written


def _pages(summary: Summary, generated: str) -> Iterable[tuple[str, str]]:
    yield "index.html", index_html(summary, generated)
    for figures in summary.files:
        yield page_name(figures.path), file_html(summary, figures)
