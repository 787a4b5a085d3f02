"""Debian packages without touching the system's apt: the mirror this machine already
uses, a private apt (its own sources, lists, cache and an empty package status) and
verified downloads.

Used to fetch Prosody 13 from bookworm-backports beside the system's 0.12, Debian's
prosody-modules as a reference, and the apt lines a container image is built from.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

APT_TIMEOUT = 300
RELEASE = "bookworm"
BACKPORTS = f"{RELEASE}-backports"


class DebianError(RuntimeError):
    """apt could not do what was asked; the message says why and what to do."""


@dataclass(frozen=True)
class AptSource:
    uri: str
    suite: str  # bookworm, bookworm-updates, bookworm-security, ...

    def line(self, component: str = "main") -> str:
        return f"deb {self.uri} {self.suite} {component}"


def apt_sources() -> list[AptSource]:
    """The bookworm archives this machine's apt uses, in apt's order (from apt-cache policy,
    which reads both the one-line and the deb822 source formats)."""
    try:
        out = subprocess.run(
            ["apt-cache", "policy"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DebianError(f"cannot ask apt for its sources: {exc}") from None
    found: list[AptSource] = []
    for uri, suite in re.findall(rf"^\s*\d+\s+(\S+)\s+({RELEASE}[a-z-]*)/main\s", out, re.M):
        source = AptSource(uri.rstrip("/"), suite)
        if source not in found:
            found.append(source)
    if not any(source.suite == RELEASE for source in found):
        raise DebianError(
            f"this machine's apt sources name no Debian {RELEASE} archive (apt-cache policy); "
            "a Debian 12 machine with its standard sources is needed"
        )
    return found


def debian_mirror() -> str:
    """The URI of the main Debian archive (not the security one) that apt already uses."""
    return next(source.uri for source in apt_sources() if source.suite == RELEASE)


class PrivateApt:
    """apt-get and apt-cache with their own sources, lists and cache under `root`, and an
    empty package status: the system's apt state is neither read nor changed."""

    def __init__(self, root: Path, sources: list[str]) -> None:
        self.root = root
        for sub in (
            "lists/partial",
            "cache/archives/partial",
            "etc/sources.list.d",
            "etc/preferences.d",
        ):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "etc/sources.list").write_text("".join(line + "\n" for line in sources))
        (root / "status").touch()
        settings = {
            "Dir::Etc::SourceList": root / "etc/sources.list",
            "Dir::Etc::SourceParts": root / "etc/sources.list.d",
            "Dir::Etc::Preferences": root / "etc/preferences",
            "Dir::Etc::PreferencesParts": root / "etc/preferences.d",
            "Dir::State::Lists": root / "lists",
            "Dir::State::status": root / "status",
            "Dir::Cache": root / "cache",
        }
        self.config = root / "apt.conf"
        self.config.write_text("".join(f'{k} "{v}";\n' for k, v in settings.items()))

    def run(self, *command: str, cwd: Path | None = None) -> str:
        env = {**os.environ, "APT_CONFIG": str(self.config), "LC_ALL": "C"}
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, env=env, cwd=cwd, timeout=APT_TIMEOUT
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DebianError(f"{' '.join(command)}: {exc}") from None
        if result.returncode != 0:
            said = (result.stdout + result.stderr).strip()[-2000:]
            raise DebianError(f"{' '.join(command)} failed:\n{said}")
        return result.stdout

    def record(self, package: str) -> dict[str, str]:
        """The package index's record of `package` (Version, Filename, SHA256, ...)."""
        for text in self.run("apt-cache", "show", package).split("\n\n"):
            fields = dict(re.findall(r"^([A-Za-z0-9-]+): (.*)$", text, re.MULTILINE))
            if "SHA256" in fields and "Filename" in fields:
                return fields
        raise DebianError(f"{package} is not in this apt's sources")


def fetch_package(package: str, suite: str, into: Path, apt_root: Path) -> tuple[Path, dict]:
    """Download `package` from `suite` of this machine's mirror into `into`, checked against
    the SHA256 of the signed package index; returns the .deb and its index record."""
    apt = PrivateApt(apt_root, [AptSource(debian_mirror(), suite).line()])
    apt.run("apt-get", "update")
    record = apt.record(package)
    into.mkdir(parents=True, exist_ok=True)
    apt.run("apt-get", "download", f"{package}={record['Version']}", cwd=into)
    candidates = sorted(into.glob(f"{package}_*.deb"))
    if not candidates:
        raise DebianError(f"apt-get download left no {package} .deb in {into}")
    deb = candidates[-1]
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    if digest != record["SHA256"]:
        deb.unlink()
        raise DebianError(
            f"{deb.name}: SHA256 {digest} does not match the package index's {record['SHA256']}"
        )
    return deb, record


def unpack(deb: Path, into: Path) -> None:
    try:
        subprocess.run(
            ["dpkg", "-x", str(deb), str(into)], check=True, timeout=120, capture_output=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise DebianError(f"dpkg -x {deb.name}: {exc}") from None
