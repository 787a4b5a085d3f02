"""What a sandbox holds, and when it lets go: its Lua state is freed when it stops (not
whenever Python's cycle collector comes by, then many at once), its data directory is
removed or handed on, Lua's own collector runs once it has started, and it boots
whoever imported lupa first."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

from harness.profile import Profile
from harness.sandbox import Sandbox, data_dirs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _lua_states() -> int:
    return sum(1 for o in gc.get_objects() if type(o).__name__ == "LuaRuntime")


def test_a_stopped_sandbox_frees_its_lua_state_at_once():
    gc.collect()
    before = _lua_states()
    gc.disable()  # what is freed must be freed without the cycle collector
    try:
        box = Sandbox(Profile())
        box.start()
        assert _lua_states() == before + 1
        box.stop()
        assert _lua_states() == before
    finally:
        gc.enable()


def test_lua_s_collector_runs_once_the_sandbox_has_started():
    with Sandbox(Profile()) as box:
        assert box.lua_eval('return collectgarbage("isrunning")') is True


def test_an_empty_data_directory_is_handed_on_and_a_used_one_removed():
    with Sandbox(Profile()) as box:
        empty = box.lua_eval("return prosody.paths.data")
    with Sandbox(Profile(options={"default_storage": "internal"})) as box:
        assert box.lua_eval("return prosody.paths.data") == empty  # handed on
        box.create_user("john", "localhost", "pw")
        used = box.lua_eval("return prosody.paths.data")
        assert os.listdir(used)
    assert not os.path.exists(used)  # it held data: removed with it
    with Sandbox(Profile()) as box:
        kept = box.lua_eval("return prosody.paths.data")
        assert os.listdir(kept) == []
    data_dirs.remove_left_over()
    assert not os.path.exists(kept)


def test_it_boots_when_lupa_was_imported_first_by_someone_else():
    code = (
        "from lupa import lua54\n"  # without the global symbols Prosody's C libraries need
        "from harness.sandbox import Sandbox\n"
        "with Sandbox() as box:\n"
        '    print(box.lua_eval(\'return require "util.hashes".sha1("x", true)\'))\n'
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "11f6ad8ec52a2984abaafd7c3b516503785c2072"


def test_a_forked_worker_leaves_the_parent_s_kept_directories_alone():
    with Sandbox(Profile()) as box:
        kept = box.lua_eval("return prosody.paths.data")
    pid = os.fork()
    if pid == 0:  # as harness.runner.processes' workers do
        mine = data_dirs.take()
        data_dirs.remove_left_over()
        os.rmdir(mine)
        os._exit(0 if mine != kept else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0  # it made its own
    assert os.path.isdir(kept) and data_dirs.take() == kept
    os.rmdir(kept)


def test_remove_all_removes_the_directories_still_in_use_too():
    """In a forked child, as the runner's workers call it (the parent's are not its)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with Sandbox(Profile()) as box:
                kept = box.lua_eval("return prosody.paths.data")
            running = Sandbox(Profile(options={"default_storage": "internal"}))
            running.start()
            running.create_user("john", "localhost", "pw")
            used = running.lua_eval("return prosody.paths.data")
            data_dirs.remove_all()  # as a worker does before it ends, its servers running
            gone = not os.path.exists(kept) and not os.path.exists(used)
            running.stop()  # nothing left to give back: no error
            code = 0 if gone else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_process_that_never_stops_its_sandbox_leaves_no_directory(tmp_path):
    code = (
        "from harness.profile import Profile\n"
        "from harness.sandbox import Sandbox\n"
        "box = Sandbox(Profile(options={'default_storage': 'internal'}))\n"
        "box.start()\n"
        "box.create_user('john', 'localhost', 'pw')\n"  # a file in its directory
        "print(box.lua_eval('return prosody.paths.data'))\n"  # and no stop()
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(tmp_path))  # it was there
    assert list(tmp_path.iterdir()) == []
