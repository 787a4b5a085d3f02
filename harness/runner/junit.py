"""JUnit XML, the report format CI systems (GitLab, Jenkins, GitHub actions) read."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from harness.runner.results import ERROR, FAILED, SKIPPED, RunReport, ScenarioResult
from harness.runner.terminal import failure_text


def junit_tree(report: RunReport) -> ET.ElementTree:
    """One <testsuite> per target; one <testcase> per scenario (classname = its folder)."""
    root = ET.Element("testsuites", name="prosody-harness")
    by_target: dict[str, list[ScenarioResult]] = defaultdict(list)
    for result in report.results:
        by_target[result.target].append(result)
    totals = defaultdict(int)
    for target, results in by_target.items():
        label = target if target != "-" else "scenario-files"  # "-": files that did not load
        suite = ET.SubElement(root, "testsuite", name=f"prosody-harness.{label}")
        _properties(suite, report, target)
        counts = {"tests": len(results), "failures": 0, "errors": 0, "skipped": 0}
        for result in results:
            counts.update(_testcase(suite, result, counts))
        suite.set("time", f"{sum(r.duration for r in results):.3f}")
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(totals[key]))
    root.set("time", f"{report.seconds:.3f}")
    return ET.ElementTree(root)


def _properties(suite: ET.Element, report: RunReport, target: str) -> None:
    """What the suite ran on: Prosody version, image, engine, modules (and their digest)."""
    values = {
        "modules.dir": report.modules_dir or "lua_modules/",
        "modules.digest": report.modules_digest,
        **{key: str(value) for key, value in report.targets.get(target, {}).items()},
    }
    properties = ET.SubElement(suite, "properties")
    for name, value in values.items():
        ET.SubElement(properties, "property", name=name, value=value)


def _testcase(suite: ET.Element, result: ScenarioResult, counts: dict[str, int]) -> dict[str, int]:
    folder = str(Path(result.file).parent).replace("/", ".").strip(".")
    case = ET.SubElement(
        suite,
        "testcase",
        classname=folder or "scenarios",
        name=result.name,
        file=result.file,
        line=str(result.step_line or result.line),
        time=f"{result.duration:.3f}",
    )
    if result.status == SKIPPED:
        ET.SubElement(case, "skipped", message=result.message)
        counts["skipped"] += 1
    elif result.status in (FAILED, ERROR):
        tag = "failure" if result.status == FAILED else "error"
        first_line = result.message.splitlines()[0] if result.message else result.status
        element = ET.SubElement(
            case, tag, message=f"{result.location}: {first_line}", type=f"scenario.{result.status}"
        )
        element.text = failure_text(result)
        counts["failures" if result.status == FAILED else "errors"] += 1
    return counts


def write_junit(report: RunReport, path: str) -> None:
    tree = junit_tree(report)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
