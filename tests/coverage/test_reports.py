"""The reports of the probe's counts: Cobertura XML that parses and adds up, the HTML
index and pages, the terminal summary, and the line only one target ran, listed as such."""

from __future__ import annotations

import html.parser
import json
import xml.etree.ElementTree as ET

from coverage_probe import PROBE_FILES, PROBE_MODULES

from harness.coverage.model import CoverageData, TargetRun
from harness.coverage.report import Ran, collected, write_reports
from harness.coverage.summary import summarise
from harness.coverage.terminal import summary_text

SANDBOX_ONLY = "in_sandbox = true;"


def sandbox_only_line() -> int:
    source = (PROBE_MODULES / PROBE_FILES[0]).read_text().splitlines()
    return next(i for i, text in enumerate(source, 1) if SANDBOX_ONLY in text)


def probe_data(probe_counts) -> CoverageData:
    probe_counts("sandbox", "0.12")
    recorder = probe_counts("prosody", "0.12")
    runs = [Ran("sandbox", "", False), Ran("prosody", "", False)]
    data = collected(recorder, runs)
    data.runs = {
        k: v
        for k, v in data.runs.items()
        if k.split()[0] in ("sandbox", "prosody") and v.version.startswith("0.12")
    }
    return data


def test_a_line_one_target_ran_is_listed_as_such(probe_counts):
    summary = summarise(probe_data(probe_counts))
    found = [(d.path, d.line, d.ran_on, d.not_on) for d in summary.differences]
    assert found == [(PROBE_FILES[0], sandbox_only_line(), ["sandbox"], ["prosody"])]
    text = summary_text(summary)
    assert f"{PROBE_FILES[0]}:{sandbox_only_line()}  run on sandbox, not on prosody" in text


def test_cobertura_parses_and_adds_up(probe_counts, tmp_path):
    data = probe_data(probe_counts)
    summary = write_reports(data, str(tmp_path))
    root = ET.parse(tmp_path / "cobertura.xml").getroot()
    assert root.tag == "coverage"
    for name in (
        "line-rate",
        "branch-rate",
        "lines-covered",
        "lines-valid",
        "version",
        "timestamp",
        "complexity",
        "branches-covered",
        "branches-valid",
    ):
        assert name in root.attrib, name  # what coverage-04.dtd requires
    assert root.find("sources/source").text == str(PROBE_MODULES)
    classes = root.findall("packages/package/classes/class")
    assert sorted(c.get("filename") for c in classes) == sorted(PROBE_FILES)
    valid = covered = 0
    for element in classes:
        assert element.find("methods") is not None
        figures = next(f for f in summary.files if f.path == element.get("filename"))
        lines = {int(x.get("number")): int(x.get("hits")) for x in element.iter("line")}
        assert set(lines) == figures.executable
        expected = {
            line: sum(run.files.get(figures.path, {}).get(line, 0) for run in data.runs.values())
            for line in figures.executable
        }
        assert lines == expected
        valid += len(lines)
        covered += sum(1 for hits in lines.values() if hits)
    assert (int(root.get("lines-valid")), int(root.get("lines-covered"))) == (valid, covered)
    assert abs(float(root.get("line-rate")) - covered / valid) < 1e-4
    per_run = sorted(p.name for p in tmp_path.glob("cobertura-*.xml"))
    assert per_run == sorted(
        f"cobertura-{run.target}-{run.version}.xml" for run in data.runs.values()
    )
    # The sandbox alone ran one more line than real Prosody.
    sandbox, prosody = (
        int(ET.parse(next(tmp_path.glob(f"cobertura-{t}-*.xml"))).getroot().get("lines-covered"))
        for t in ("sandbox", "prosody")
    )
    assert sandbox == prosody + 1


class _Checker(html.parser.HTMLParser):
    """Tags open and close in order (void elements aside); ids and classes seen."""

    VOID = {"meta", "br", "img", "hr", "input", "link"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.rows: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "tr" and attributes.get("id"):
            self.rows[attributes["id"]] = attributes.get("class") or ""
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (self.stack[-3:], tag)
        self.stack.pop()


def _checked(path) -> _Checker:
    checker = _Checker()
    checker.feed(path.read_text())
    checker.close()
    assert checker.stack == []
    return checker


def test_html_index_and_a_page_per_file(probe_counts, tmp_path):
    write_reports(probe_data(probe_counts), str(tmp_path))
    index = (tmp_path / "index.html").read_text()
    _checked(tmp_path / "index.html")
    assert "Lines run on some targets only" in index
    assert f"{PROBE_FILES[0]}:{sandbox_only_line()}" in index
    page = tmp_path / "mod_coverage_probe_mod_coverage_probe.lua.html"
    assert f'href="{page.name}"' in index
    rows = _checked(page).rows
    source = (PROBE_MODULES / PROBE_FILES[0]).read_text().splitlines()
    assert len(rows) == len(source)
    never = next(i for i, text in enumerate(source, 1) if 'return "never"' in text)
    first = next(i for i, text in enumerate(source, 1) if "util.async" in text)
    assert rows[f"L{sandbox_only_line()}"] == "partial"  # run by one of the two
    assert rows[f"L{never}"] == "missed"
    assert rows[f"L{first}"] == "run"
    assert rows["L1"] == ""  # a comment


def test_a_later_run_on_another_version_adds_to_the_report(tmp_path):
    old = TargetRun("sandbox", "0.12.3", {"a.lua": {1: 1}})
    first = CoverageData("/m", {old.label: old})
    write_reports(first, str(tmp_path))
    new = TargetRun("sandbox", "13.0.1", {"a.lua": {2: 1}})
    second = CoverageData("/m", {new.label: new})
    write_reports(second, str(tmp_path))
    saved = json.loads((tmp_path / "counts.json").read_text())
    assert list(saved["runs"]) == ["sandbox 0.12.3", "sandbox 13.0.1"]
    assert second.kept == ["sandbox 0.12.3"]
    other = CoverageData("/elsewhere", {"sandbox 13.0.1": TargetRun("sandbox", "13.0.1")})
    write_reports(other, str(tmp_path))  # another modules folder: nothing kept
    assert list(json.loads((tmp_path / "counts.json").read_text())["runs"]) == ["sandbox 13.0.1"]
