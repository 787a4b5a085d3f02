"""What loading each scenario file gave, kept on disk for the next run.

Reading, parsing and checking this project's 280 files costs about 0.9 s of Python, and
every `prosody-harness run` paid it; unpickling what they gave takes 0.02 s. An entry is
used only when nothing it came from has changed since, compared by content (a stamp can
miss a rewrite within the same clock tick):

* the file itself and its folder's defaults.yaml (a digest of each), and where its
  folder's prosody.cfg.lua is (the profile names it; it is read at the run);
* the harness's own code: a digest of every Python file of harness/ and mock_backends/,
  the scenario schema and the Python version;
* the working directory and the file's name as given (a scenario keeps it).

An invalid file is kept as its error, and shown again as it was. The cache is one file,
`scenarios.pickle` in the harness's cache folder ($PROSODY_HARNESS_CACHE, else the
project's .cache/), written whole and renamed into place, so a run never reads half of
one; runs side by side at worst redo each other's work. Entries of files that are gone
are dropped. A cache that cannot be read or written is as good as empty: loading never
depends on it. Runs of fewer than CACHE_FROM files do without it (reading the cache
costs about as much as loading ten). PROSODY_HARNESS_LOAD_CACHE=0 turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness.lua_config import CONFIG_NAME
from harness.scenario import Scenario, ScenarioError
from harness.scenario.folder import DEFAULTS_FILE

ENV_VAR = "PROSODY_HARNESS_LOAD_CACHE"
FILE_NAME = "scenarios.pickle"
CODE_ROOTS = ("harness", "mock_backends")
# Fewer files are loaded afresh: reading the cache costs about as much as ten files.
CACHE_FROM = 10

# What a file gave: its scenarios, or why it is invalid (both pickle as they are).
FileResult = list[Scenario] | ScenarioError
Outcome = tuple[str, FileResult]
Sources = tuple[bytes | None, bytes | None, str | None]


def enabled() -> bool:
    return os.environ.get(ENV_VAR, "1") != "0"


def cache_file() -> Path:
    from harness.prosody_install import cache_dir  # noqa: PLC0415 - only when caching

    return cache_dir() / FILE_NAME


def _digest(path: str) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return hashlib.sha256(file.read()).digest()
    except OSError:
        return None


def code_digest() -> bytes:
    """Changes whenever the code that loads scenarios (or makes what they hold) may have."""
    project = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256(sys.version.encode())
    for root in CODE_ROOTS:
        for folder, dirs, files in os.walk(project / root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith((".py", ".json")):
                    path = os.path.join(folder, name)
                    digest.update(f"{path}\0".encode() + (_digest(path) or b"-"))
    return digest.digest()


def _sources(file: str) -> Sources:
    folder = os.path.dirname(file) or "."
    config = os.path.join(folder, CONFIG_NAME)
    return (
        _digest(file),
        _digest(os.path.join(folder, DEFAULTS_FILE)),
        os.path.realpath(config) if os.path.isfile(config) else None,
    )


class LoadCache:
    """The entries of one run: `outcome` for a file whose sources are unchanged, `keep`
    for one loaded afresh, `save` once at the end (only when something changed)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_file()
        self._cwd = os.getcwd()
        self._code = code_digest()
        # (working directory, file as given) -> (its sources, its outcome)
        self._entries: dict[tuple[str, str], tuple[Sources, FileResult]] = {}
        self._changed = False
        try:
            with open(self.path, "rb") as file:
                code, entries = pickle.load(file)
            if code == self._code and isinstance(entries, dict):
                self._entries = entries
        except Exception:  # noqa: BLE001 - missing, unreadable or from other code: start empty
            pass

    def outcome(self, file: str, sources: Sources) -> FileResult | None:
        """What loading `file` gave last time, if it came from these same `sources`."""
        entry = self._entries.get((self._cwd, file))
        return entry[1] if entry is not None and entry[0] == sources else None

    def keep(self, file: str, sources: Sources, outcome: FileResult) -> None:
        """Remember `outcome` of `file`, loaded from `sources`."""
        self._entries[(self._cwd, file)] = (sources, outcome)
        self._changed = True

    def save(self) -> None:
        """Write the entries (those of files still there) if any changed."""
        if not self._changed:
            return
        entries = {
            (cwd, file): entry
            for (cwd, file), entry in self._entries.items()
            if os.path.isfile(os.path.join(cwd, file))
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            data = pickle.dumps((self._code, entries), protocol=pickle.HIGHEST_PROTOCOL)
            handle, scratch = tempfile.mkstemp(dir=self.path.parent, prefix=".scenarios-")
        except Exception:  # noqa: BLE001 - a cache not written only costs the next run time
            return
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(scratch, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(scratch)


def load_with_cache(files: list[str], load: Callable[[list[str]], list[Outcome]]) -> list[Outcome]:
    """Each file's outcome in the order of `files`: from the cache where it still holds,
    the rest through `load` (which takes the files to load and returns their outcomes)."""
    if not enabled() or len(files) < CACHE_FROM:
        return load(files)
    cache = LoadCache()
    found: dict[str, FileResult] = {}
    sources: dict[str, Sources] = {}
    for file in files:
        # Taken before any loading: a change made meanwhile shows at the next run.
        sources[file] = _sources(file)
        outcome = cache.outcome(file, sources[file])
        if outcome is not None:
            found[file] = outcome
    missing = [file for file in files if file not in found]
    if missing:
        for file, outcome in load(missing):
            found[file] = outcome
            cache.keep(file, sources[file], outcome)
        cache.save()
    return [(file, found[file]) for file in files]
