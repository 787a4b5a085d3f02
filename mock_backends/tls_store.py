"""A folder that keeps the mocks' test authority and certificates across processes.

Making them costs a process cryptography's import (about a tenth of a second) and a key
each; a run that finds them kept only reads two small files. The harness keeps them in
`.cache/tls` (see mock_backends.tls.keep_in). Nothing in the folder is precious: an
item that is missing, unreadable, damaged or near its end is made anew, and a folder
that cannot be written to only means nothing is kept.

Layout: `NAME.pem` and `NAME.key` per item and `NAME.until` (the Unix time the item's
certificate ends). Writers hold an exclusive lock on `lock`, and each file is written
whole, then renamed into place, so a reader never sees half of one.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

MARGIN = 24 * 3600  # an item that ends sooner than this is made anew
Item = tuple[bytes, bytes, float]  # certificate PEM, key PEM, Unix time it ends


class TlsStore:
    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)

    def get_or_make(self, name: str, make: Callable[[], Item]) -> Item:
        """The kept `name`, else `make()`'s, kept for the next process. A folder that cannot
        be written to leaves the made item unkept: the caller still gets it."""
        item = None
        try:
            with self._locked():
                found = self._read(name)
                if found is not None:
                    return found
                item = make()
                self._write(name, item)
                return item
        except OSError:
            return item if item is not None else make()

    def forget(self, name: str) -> None:
        """Drop `name` (its files read but did not load: damaged)."""
        try:
            with self._locked():
                for suffix in (".until", ".pem", ".key"):
                    (self.folder / f"{name}{suffix}").unlink(missing_ok=True)
        except OSError:
            pass  # then it is made anew each time, which is what happens with no folder

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _read(self, name: str) -> Item | None:
        try:
            until = float((self.folder / f"{name}.until").read_text("ascii"))
            cert = (self.folder / f"{name}.pem").read_bytes()
            key = (self.folder / f"{name}.key").read_bytes()
        except (OSError, ValueError):
            return None
        if until < time.time() + MARGIN or b"CERTIFICATE" not in cert or b"KEY" not in key:
            return None
        return cert, key, until

    def _write(self, name: str, item: Item) -> None:
        cert, key, until = item
        # The end goes first and comes back last: an item counts only while its certificate
        # and key are both in place (a write that fails halfway leaves no pair to trust).
        (self.folder / f"{name}.until").unlink(missing_ok=True)
        self._replace(f"{name}.pem", cert, 0o644)
        self._replace(f"{name}.key", key, 0o600)
        self._replace(f"{name}.until", repr(until).encode("ascii"), 0o644)

    def _replace(self, name: str, data: bytes, mode: int) -> None:
        handle, scratch = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.")
        try:
            os.fchmod(handle, mode)
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(scratch, self.folder / name)
        except BaseException:
            Path(scratch).unlink(missing_ok=True)
            raise
