"""`prosody-harness run` starts without what only other commands or rare paths need: each
library left out is time every run would pay (requests and cryptography are a tenth of a
second each; `check`'s probes a third)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "scenarios" / "rest" / "webhook_slow_answer_times_out.yaml"

PROBE = """
import sys
from harness.cli import main
status = main(["run", sys.argv[1], "--target", "sandbox"])
print(" ".join(sorted(name for name in sys.modules if name.split(".")[0] in
      ("requests", "cryptography", "harness", "slixmpp", "docker"))))
sys.exit(status)
"""


def test_running_a_scenario_imports_no_other_command_and_no_unused_library():
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(SCENARIO)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    imported = set(done.stdout.split())
    assert "harness.runner" in imported  # the probe saw the run's imports
    for unused in ("requests", "cryptography", "harness.contract", "slixmpp", "docker"):
        assert unused not in imported, f"{unused} imported by a sandbox run"


def test_ctrl_c_while_the_command_is_imported_says_interrupted_without_a_traceback(
    monkeypatch, capsys
):
    """Most of a start is importing the command: Ctrl-C there ends as it does later."""
    from harness import cli

    def interrupted(name):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.importlib, "import_module", interrupted)
    assert cli.main(["run", str(SCENARIO)]) == 130
    said = capsys.readouterr()
    assert said.err.strip() == "interrupted" and "Traceback" not in said.out + said.err
