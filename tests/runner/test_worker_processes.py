"""Sandbox scenarios in forked worker processes (harness.runner.processes): the same
verdicts, failure details and reports as in one process, each result as it comes, and a
worker that dies leaves errors that say so rather than a hang or a silent gap."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.runner import FAILED, PASSED, SKIPPED, Runner, RunOptions, load_all
from harness.runner.processes import BATCH, batches, run_in_processes, worker_processes

PING = """\
name: {name}
shared_server: {shared}
clients:
  john: {{jid: john@localhost, password: pw}}
steps:
  - john connects
  - john sends: <iq type="get" id="p1" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>
  - john receives: <iq type="{answer}" id="p1" from="localhost"/>
    timeout: 2
"""
ONLY_ON_PROSODY = """\
name: only on prosody
targets: [prosody]
because: it needs a real server
steps:
  - http GET /: {}
"""


def _suite(scenario_file, count: int = 6, failing: int = 1, shared: bool = True):
    for index in range(count):
        answer = "error" if index < failing else "result"
        text = PING.format(name=f"ping {index}", answer=answer, shared=str(shared).lower())
        scenario_file(f"ping_{index}.yaml", text)
    return scenario_file("only_prosody.yaml", ONLY_ON_PROSODY).parent


def _run(folder, workers: int):
    seen = []
    report = Runner(RunOptions(["sandbox"], workers=workers), seen.append).run(
        load_all([str(folder)])
    )
    # Progress saw each result once, as it came.
    assert sorted(r.id for r in seen) == sorted(r.id for r in report.results)
    return report


def test_workers_give_the_verdicts_and_details_of_one_process(scenario_file):
    folder = _suite(scenario_file, count=20)  # more than a batch: both workers run some
    forked = _run(folder, workers=2)
    threaded = _run(folder, workers=1)

    def verdicts(report):
        return sorted((r.file, r.status, r.step, r.message) for r in report.results)

    assert verdicts(forked) == verdicts(threaded)
    statuses = sorted(r.status for r in forked.results)
    assert statuses == sorted([FAILED] + [PASSED] * 19 + [SKIPPED])
    failed = next(r for r in forked.results if r.status == FAILED)
    assert failed.step.startswith("john receives") and "type" in failed.message
    assert forked.servers_started["sandbox"] >= 1
    assert forked.targets["sandbox"] == threaded.targets["sandbox"]  # what it ran


def test_only_the_sandbox_forks_and_not_for_a_single_worker_coverage_or_x():
    scenarios = list(range(10))
    assert worker_processes(RunOptions(["sandbox"], workers=2), "sandbox", scenarios) == 2
    assert worker_processes(RunOptions(["sandbox"], workers=8), "sandbox", scenarios) <= (
        os.cpu_count() or 1
    )
    assert worker_processes(RunOptions(["prosody"], workers=2), "prosody", scenarios) == 0
    assert worker_processes(RunOptions(["sandbox"], workers=1), "sandbox", scenarios) == 0
    x = RunOptions(["sandbox"], workers=2, stop_on_failure=True)
    assert worker_processes(x, "sandbox", scenarios) == 0
    covered = RunOptions(["sandbox"], workers=2, coverage=object())
    assert worker_processes(covered, "sandbox", scenarios) == 0
    assert worker_processes(RunOptions(["sandbox"], workers=2), "sandbox", [1, 2, 3]) == 0


class DyingRunner(Runner):
    """Its workers run one scenario, then die as a crash in Lua would end them."""

    def run_in_turn(self, pool, target, scenarios):
        super().run_in_turn(pool, target, scenarios[:1])
        os._exit(7)


def test_a_worker_that_dies_leaves_its_scenarios_as_errors_that_say_so(
    scenario_file, tmp_path, monkeypatch
):
    # A dead worker cannot clean up after itself: its sandbox's folder goes in tmp_path.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = _suite(scenario_file, count=6, failing=0, shared=False)  # a batch each
    loaded = load_all([str(folder)])
    delivered = []
    runner = DyingRunner(RunOptions(["sandbox"], workers=2), delivered.append)
    ordered = sorted(loaded.scenarios, key=lambda s: (s.reuse_key(), s.file))
    outcome = run_in_processes(runner, "sandbox", ordered, 2)

    assert sorted(r.id for r in outcome.results) == sorted(s.id for s in loaded.scenarios)
    assert [r.id for r in delivered] == [r.id for r in outcome.results]
    died = [r for r in outcome.results if r.status == "error"]
    assert all("a worker process ended (exit code 7) before" in r.message for r in died)
    assert len(died) == len(loaded.scenarios) - 2  # each of the two ran one, then died


def test_one_profile_s_scenarios_are_shared_out_in_batches():
    class Fake:
        def __init__(self, key, shared=True):
            self.key, self.shared_server = key, shared

        def reuse_key(self):
            return self.key

    ordered = [Fake("a")] * 40 + [Fake("b")] * 3 + [Fake("b", shared=False)] + [Fake("c")]
    sizes = [len(batch) for batch in batches(ordered)]
    assert sizes == [BATCH, BATCH, 40 - 2 * BATCH, 3, 1, 1]


def test_workers_leave_no_data_folder_behind(scenario_file, tmp_path, monkeypatch):
    """Workers end without stopping their servers one by one; their sandboxes' data
    folders (one holding accounts among them) go all the same."""
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where the workers make them
    for index in range(6):
        scenario_file(
            f"stored_{index}.yaml",
            PING.format(name=f"stored {index}", answer="result", shared="true").replace(
                "clients:", "prosody: {global: {default_storage: internal}}\nclients:"
            ),
        )
    report = _run(tmp_path, workers=2)
    assert [(r.status, r.message) for r in report.results] == [(PASSED, "")] * 6
    assert os.listdir(temp) == []


def test_ctrl_c_during_a_run_says_interrupted_once_and_no_worker_prints_a_traceback(tmp_path):
    """A terminal's Ctrl-C reaches every process of its job: the workers too."""
    repo = Path(__file__).resolve().parents[2]
    run = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "scenarios", "--target", "sandbox", "-j", "2"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        start_new_session=True,  # its own process group, as a terminal job has
    )
    assert run.stdout is not None
    said = []
    for line in run.stdout:  # the first result: both workers are at work
        said.append(line.decode())
        if line.startswith(b"["):
            break
    os.killpg(run.pid, signal.SIGINT)
    rest, _ = run.communicate(timeout=60)
    output = "".join(said) + rest.decode()
    assert run.returncode == 130, output
    assert output.count("interrupted") == 1, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
