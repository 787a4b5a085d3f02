"""Cobertura XML (coverage-04.dtd), the line coverage format CI systems read (GitLab,
Jenkins, Azure DevOps, Codecov...): one package per module folder, one class per file,
a <line number hits> per executable line. Line coverage only: branch-rate is 0."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

from harness.coverage.summary import FileFigures, Summary

DOCTYPE = '<!DOCTYPE coverage SYSTEM "http://cobertura.sourceforge.net/xml/coverage-04.dtd">'


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:.4f}" if whole else "1"


def cobertura_xml(summary: Summary, labels: list[str] | None = None) -> str:
    """The report for the runs `labels` (default: all of them, a line's hits summed)."""
    chosen = [run for run in summary.runs if labels is None or run.label in labels]
    names = {run.label for run in chosen}

    def hits(figures: FileFigures, line: int) -> int:
        return sum(run.files.get(figures.path, {}).get(line, 0) for run in chosen)

    def covered(figures: FileFigures) -> int:
        ran = set().union(*(lines for lb, lines in figures.run.items() if lb in names))
        return len(ran & figures.executable)

    valid = sum(len(f.executable) for f in summary.files)
    total = sum(covered(f) for f in summary.files)
    root = ET.Element(
        "coverage",
        {
            "line-rate": _rate(total, valid),
            "branch-rate": "0",
            "lines-covered": str(total),
            "lines-valid": str(valid),
            "branches-covered": "0",
            "branches-valid": "0",
            "complexity": "0",
            "version": "prosody-harness",
            "timestamp": str(int(time.time() * 1000)),
        },
    )
    ET.SubElement(ET.SubElement(root, "sources"), "source").text = summary.data.modules_dir
    packages = ET.SubElement(root, "packages")
    by_package: dict[str, list[FileFigures]] = {}
    for figures in summary.files:
        package = figures.path.split("/", 1)[0] if "/" in figures.path else "."
        by_package.setdefault(package, []).append(figures)
    for package, files in sorted(by_package.items()):
        lines = sum(len(f.executable) for f in files)
        ran = sum(covered(f) for f in files)
        package_element = ET.SubElement(
            packages,
            "package",
            {
                "name": package,
                "line-rate": _rate(ran, lines),
                "branch-rate": "0",
                "complexity": "0",
            },
        )
        classes = ET.SubElement(package_element, "classes")
        for figures in files:
            class_element = ET.SubElement(
                classes,
                "class",
                {
                    "name": figures.path.rsplit("/", 1)[-1].removesuffix(".lua"),
                    "filename": figures.path,
                    "line-rate": _rate(covered(figures), len(figures.executable)),
                    "branch-rate": "0",
                    "complexity": "0",
                },
            )
            ET.SubElement(class_element, "methods")
            line_elements = ET.SubElement(class_element, "lines")
            for line in sorted(figures.executable):
                ET.SubElement(
                    line_elements,
                    "line",
                    {"number": str(line), "hits": str(hits(figures, line)), "branch": "false"},
                )
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" ?>\n{DOCTYPE}\n{body}\n'
