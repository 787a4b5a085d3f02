"""What a process and everything it started hold, read from /proc while it runs: the
processes (with their start times, so a reused pid is not mistaken for one of them), the
TCP ports they listen on, and the temp folders marked with its pid."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

OWNER_FILE = "owner.pid"


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return int(fields[1]), fields[0], int(fields[19])


def running(pid: int, started: int) -> bool:
    """The process that had this start time still runs (zombies count as gone)."""
    stat = _stat(pid)
    return stat is not None and stat[2] == started and stat[1] not in ("Z", "X")


def descendants(root: int) -> dict[int, int]:
    """pid -> start time of `root` and every process below it."""
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                children.setdefault(stat[0], []).append(int(entry))
                starts[int(entry)] = stat[2]
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in starts and pid not in found:
            found[pid] = starts[pid]
            todo += children.get(pid, [])
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def listening() -> dict[str, int]:
    """inode -> port of every listening TCP socket of this network namespace."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A":  # LISTEN
                found[parts[9]] = int(parts[1].rsplit(":", 1)[1], 16)
    return found


def owned_folders(owner: int) -> set[Path]:
    """Temp folders marked as the owner's (prosody-harness-*/owner.pid)."""
    folders = set()
    for marker in Path(tempfile.gettempdir()).glob(f"prosody-harness-*/{OWNER_FILE}"):
        try:
            if int(marker.read_text()) == owner:
                folders.add(marker.parent)
        except (OSError, ValueError):
            continue
    return folders


@dataclass
class Holdings:
    """Everything seen held by a run while it was watched."""

    processes: dict[int, int] = field(default_factory=dict)  # pid -> start time
    commands: dict[int, str] = field(default_factory=dict)
    ports: set[int] = field(default_factory=set)
    folders: set[Path] = field(default_factory=set)

    def watch(self, root: int) -> None:
        """One look at the run (call it often while it runs)."""
        tree = descendants(root)
        for pid, started in tree.items():
            if pid not in self.processes:
                self.processes[pid] = started
                try:
                    self.commands[pid] = (
                        Path(f"/proc/{pid}/cmdline")
                        .read_bytes()
                        .replace(b"\0", b" ")
                        .decode(errors="replace")[:120]
                    )
                except OSError:
                    self.commands[pid] = "?"
        sockets = listening()
        for pid in tree:
            for inode in _socket_inodes(pid):
                if inode in sockets:
                    self.ports.add(sockets[inode])
        self.folders |= owned_folders(root)

    def left_behind(self, root: int) -> list[str]:
        """What is still there of what was seen (after the run ended)."""
        left = [
            f"process {pid} ({self.commands.get(pid)})"
            for pid, started in self.processes.items()
            if running(pid, started)
        ]
        left += [
            f"port {port} still listening ({holder})"
            for port in sorted(self.ports)
            for holder in self._holders(port)
        ]
        left += [
            f"folder {folder}"
            for folder in sorted(self.folders | owned_folders(root))
            if folder.exists()
        ]
        return left

    def _holders(self, port: int) -> list[str]:
        """Processes still listening on the port that belong to the run: one of its own,
        or one whose command line names one of its folders (Prosody in a container). The
        same port number taken by anyone else on this shared machine does not count."""
        inodes = {inode for inode, bound in listening().items() if bound == port}
        if not inodes:
            return []
        holders = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or not _socket_inodes(int(entry)) & inodes:
                continue
            pid = int(entry)
            try:
                command = (
                    Path(f"/proc/{pid}/cmdline")
                    .read_bytes()
                    .replace(b"\0", b" ")
                    .decode(errors="replace")
                )
            except OSError:
                continue
            ours = pid in self.processes and running(pid, self.processes[pid])
            if ours or any(str(folder) in command for folder in self.folders):
                holders.append(f"pid {pid}: {command[:100]}")
        return holders
