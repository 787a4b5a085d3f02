"""The reports of a run with --coverage, written into one folder (default coverage/):
counts.json (the raw counts, kept for the next run), index.html and a page per file,
cobertura.xml (every target's counts together) and cobertura-TARGET-VERSION.xml (each
target run on its own). Returns the summary the terminal prints."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from harness.coverage.cobertura import cobertura_xml
from harness.coverage.html import write_html
from harness.coverage.model import CoverageData
from harness.coverage.recorder import CoverageRecorder
from harness.coverage.summary import Summary, summarise
from harness.coverage.terminal import summary_text

DEFAULT_DIRECTORY = "coverage"
COUNTS_JSON = "counts.json"


@dataclass
class Ran:
    """One scenario result, as far as coverage cares: where it ran and whether it ran."""

    target: str
    prosody: str
    skipped: bool
    scenario: str = ""  # its file (or id)


def collected(recorder: CoverageRecorder, results: Iterable[Ran]) -> CoverageData:
    """The recorder's counts as one run's data, each target run with its scenario count."""
    run_id = uuid.uuid4().hex[:12]
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    data = CoverageData(recorder.modules_dir, dict(recorder.runs))
    results = list(results)
    where: dict[str, set[bool]] = {}
    for result in results:
        where.setdefault(result.scenario, set()).add(result.skipped)
    data.limited = sorted(name for name, kinds in where.items() if name and len(kinds) > 1)
    for run in data.runs.values():
        run.run_id, run.date = run_id, date
        run.scenarios = sum(
            1
            for r in results
            if r.target == run.target and not r.skipped and r.prosody in ("", run.version)
        )
    return data


def write_reports(data: CoverageData, directory: str, keep_earlier: bool = True) -> Summary:
    """Write every report into `directory` (made if missing); the summary of them."""
    os.makedirs(directory, exist_ok=True)
    counts_path = os.path.join(directory, COUNTS_JSON)
    if keep_earlier:
        data.merge_earlier(counts_path)
    data.save(counts_path)
    summary = summarise(data)
    generated = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    write_html(summary, directory, generated)
    with open(os.path.join(directory, "cobertura.xml"), "w", encoding="utf-8") as handle:
        handle.write(cobertura_xml(summary))
    for run in summary.runs:
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"cobertura-{run.target}-{run.version}.xml")
        with open(os.path.join(directory, name), "w", encoding="utf-8") as handle:
            handle.write(cobertura_xml(summary, [run.label]))
    return summary


def report_run(
    recorder: CoverageRecorder, results: Iterable[Ran], directory: str
) -> tuple[Summary, str]:
    """Everything `run --coverage` does after the run: (summary, its terminal text)."""
    summary = write_reports(collected(recorder, results), directory)
    text = summary_text(summary, directory)
    if recorder.unwritten:
        text += (
            f"\n{recorder.unwritten} server(s) ended without writing their counts (killed "
            "before their shutdown finished): their lines are missing"
        )
    return summary, text
