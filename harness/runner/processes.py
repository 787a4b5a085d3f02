"""Sandbox scenarios in forked worker processes, one per worker.

The sandbox runs Prosody's Lua and the harness's Python in one process, and Python lets
one thread at a time run Python: worker threads over sandboxes barely overlap (`-j 2`
ran the suite no faster than `-j 1`). Forked once the scenarios are loaded, worker
processes take batches of them from a shared queue as they become free (a batch: up to
BATCH scenarios of one profile, so they share a server), run each batch on sandboxes of
their own, and send each result back as a line of JSON the moment it is known: the
terminal and the reports read as with threads. Having sent its last result a worker
exits without stopping its servers one by one (its exit ends them at once), removing
their data folders.

A worker that dies leaves the scenarios it had taken as errors that say so. Not used
with --coverage (the counts are gathered in the process that runs the sandbox), -x (a
failure must stop every worker at once), a single worker, or where os.fork is missing.
"""

from __future__ import annotations

import gc
import json
import os
import selectors
import struct
import sys
import traceback
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from harness.runner.results import ERROR, ScenarioResult, TargetShare

if TYPE_CHECKING:
    from harness.runner.runner import Runner, RunOptions
    from harness.scenario import Scenario

RESULT, DONE = "result", "done"
BATCH = 16  # scenarios of one profile a worker takes at once (a bigger group is split)
TASK = struct.Struct(">I")  # a batch's number, as written to the task pipe


def worker_processes(options: RunOptions, target: str, scenarios: list) -> int:
    """How many worker processes to fork for `target` (0: run in threads instead)."""
    if target != "sandbox" or options.coverage is not None or options.stop_on_failure:
        return 0
    if not hasattr(os, "fork"):
        return 0
    workers = min(options.workers, os.cpu_count() or 1, len(scenarios) // 2)
    return workers if workers > 1 else 0


def batches(ordered: list[Scenario]) -> list[list[Scenario]]:
    """`ordered` (sorted by reuse key) cut where the key changes, and every BATCH."""
    cut: list[list[Scenario]] = []
    for scenario in ordered:
        last = cut[-1] if cut else None
        same = last and len(last) < BATCH and last[0].reuse_key() == scenario.reuse_key()
        if same and scenario.shared_server and last[0].shared_server:
            last.append(scenario)
        else:
            cut.append([scenario])
    return cut


def run_in_processes(
    runner: Runner, target: str, ordered: list[Scenario], workers: int
) -> TargetShare:
    """Run `ordered` on `target` in `workers` forked processes; each result is handed to
    `runner.deliver` as it arrives."""
    work = batches(ordered)
    task_read, task_write = os.pipe()
    # Every batch number is written before any worker starts (a pipe holds 64 KiB: 16,000
    # batches); a worker that reads end-of-file has nothing left to take.
    os.write(task_write, b"".join(TASK.pack(number) for number in range(len(work))))
    os.close(task_write)
    sys.stdout.flush()
    sys.stderr.flush()
    children: dict[int, int] = {}  # result pipe's read end -> pid
    # What the workers inherit (the imports, the scenarios) lives as long as they do:
    # frozen, their collections never walk it (70 ms a worker on this project's suite).
    gc.freeze()
    for _ in range(workers):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(read_end)
            _work(runner, target, work, task_read, write_end)  # never returns
        os.close(write_end)
        children[read_end] = pid
    gc.unfreeze()
    os.close(task_read)
    outcome = TargetShare()
    done: set[int] = set()  # the read ends of workers that said they were done
    died: list[str] = []
    with selectors.DefaultSelector() as selector:
        for read_end in children:
            selector.register(read_end, selectors.EVENT_READ, bytearray())
        while selector.get_map():
            for key, _events in selector.select():
                chunk = os.read(key.fd, 65536)
                if chunk:
                    key.data.extend(chunk)
                    *lines, rest = key.data.split(b"\n")
                    key.data[:] = rest
                    for line in lines:
                        if _take(json.loads(line), runner, outcome):
                            done.add(key.fd)
                    continue
                # End of file: the worker has exited, or is about to.
                selector.unregister(key.fd)
                os.close(key.fd)
                _, status = os.waitpid(children[key.fd], 0)
                if key.fd not in done:
                    died.append(_how(status))
    if died:
        _report_lost(runner, outcome, target, ordered, ", ".join(sorted(set(died))))
    return outcome


def _take(message: dict[str, Any], runner: Runner, outcome: TargetShare) -> bool:
    """Handle one message; whether it was the worker's last."""
    if message["kind"] == RESULT:
        data = {k: v for k, v in message["result"].items() if k != "id"}
        result = ScenarioResult(**data)
        outcome.results.append(result)
        runner.deliver(result)
        return False
    outcome.not_run += message["not_run"]
    outcome.servers_started += message["servers_started"]
    outcome.server_info = outcome.server_info or message["server_info"]
    outcome.unusable = outcome.unusable or message["unusable"]
    return True


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def _report_lost(
    runner: Runner, outcome: TargetShare, target: str, ordered: list[Scenario], how: str
) -> None:
    """The scenarios a dead worker had taken: neither a result nor counted as not run."""
    reported = {(r.file, r.name) for r in outcome.results}
    for scenario in ordered:
        if (scenario.file, scenario.name) in reported:
            continue
        result = ScenarioResult.before_steps(
            scenario, target, ERROR, f"a worker process ended ({how}) before this scenario finished"
        )
        outcome.results.append(result)
        runner.deliver(result)


def _tasks(task_read: int, work: list[list[Scenario]]):
    """The batches this worker takes, one at a time, as it becomes free (a read of one
    record from a pipe is whole: the records are written whole and read one at a time)."""
    while True:
        record = os.read(task_read, TASK.size)
        if len(record) < TASK.size:
            return
        yield work[TASK.unpack(record)[0]]


def _work(
    runner: Runner, target: str, work: list[list[Scenario]], task_read: int, write_end: int
) -> None:
    """In the forked worker: run batches until none is left, report, and exit."""
    code = 0
    try:
        with os.fdopen(write_end, "w", encoding="utf-8") as out:

            def send(message: dict[str, Any]) -> None:
                out.write(json.dumps(message) + "\n")
                out.flush()

            worker = type(runner)(
                replace(runner.options, workers=1),
                on_result=lambda result: send({"kind": RESULT, "result": result.to_dict()}),
            )
            # No server is started ahead in the background: in one process that gains
            # nothing (a Lua boot in a thread waits for Python's lock at each call back).
            pool = worker.server_pool(target)
            outcomes: list = []
            for batch in _tasks(task_read, work):
                outcomes += worker.run_in_turn(pool, target, batch)
            share = worker.share(pool, target, outcomes)
            share.results = []  # sent one by one already
            send({"kind": DONE, **asdict(share)})
            # The servers are not stopped one by one (a sixth of a second for a worker's
            # half of this project's suite): nothing watches their shutdown, and this
            # process' exit ends them all at once; `finally` removes their data folders.
    except BrokenPipeError:
        code = 1  # the run stopped reading (interrupted, gone): nobody to tell anything
    except KeyboardInterrupt:
        # Ctrl-C reaches every process of the terminal's group: the run says it was
        # interrupted, once; a traceback from each worker would only bury that.
        code = 130
    except BaseException:  # noqa: BLE001 - the parent reports the scenarios left as errors
        traceback.print_exc()
        code = 1
    finally:
        from harness.sandbox import data_dirs  # noqa: PLC0415 - only sandbox workers fork

        data_dirs.remove_all()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # not the parent's exit handlers: they are the parent's to run
