"""`prosody-harness run --coverage`: the reports from a scenario run, and the option's
guard against taking a scenario folder for the report folder."""

from __future__ import annotations

import subprocess
import sys

from coverage_probe import HERE, PROBE_MODULES

SCENARIO = HERE / "data" / "probe_scenario.yaml"


def run(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", *arguments, "--no-colour"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_run_with_coverage_prints_the_summary_and_writes_the_reports(tmp_path):
    reports = tmp_path / "reports"
    done = run(str(SCENARIO), "--modules", str(PROBE_MODULES), "--coverage", str(reports))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Line coverage of" in done.stdout
    assert "mod_coverage_probe/mod_coverage_probe.lua" in done.stdout
    assert "mod_coverage_probe/probe_helper.lib.lua" in done.stdout
    for name in ("index.html", "cobertura.xml", "counts.json"):
        assert (reports / name).is_file(), name
    assert list(reports.glob("cobertura-sandbox-*.xml"))


def test_a_scenario_folder_given_as_the_report_folder_is_refused(tmp_path):
    done = run("--coverage", str(HERE / "data"))
    assert done.returncode == 2
    assert "put --coverage after the paths" in done.stderr


def test_the_pytest_option_reports_the_scenarios_it_ran(tmp_path):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "probe.yaml").write_text(SCENARIO.read_text())
    reports = tmp_path / "reports"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(folder),
            "--modules",
            str(PROBE_MODULES),
            f"--lua-coverage={reports}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "line coverage of the modules (--lua-coverage)" in done.stdout
    assert "mod_coverage_probe/mod_coverage_probe.lua" in done.stdout
    assert (reports / "cobertura.xml").is_file()
