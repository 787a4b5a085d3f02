"""Which Prosody a run uses: `0.12` (Debian's package), `13` (Debian's bookworm-backports,
fetched on demand into a cache folder) or the path of any `prosody` launcher.

Prosody 13 is never installed system-wide. Its .deb is downloaded with a private apt
configuration (its own sources, lists and cache under the cache folder) whose source reuses
the mirror the machine already uses, checked against the SHA256 that the signed package
index gives, unpacked with `dpkg -x`, and its `prosody`/`prosodyctl` launchers are copied
with their CFG_* paths pointing into the unpacked tree. All its dependencies are ones
Debian's 0.12 package already pulls in. A second run finds the cache and costs nothing.
"""

from __future__ import annotations

import argparse
import fcntl
import functools
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.debian import BACKPORTS, DebianError, fetch_package, unpack

REPO = Path(__file__).resolve().parents[1]
CACHE_ENV = "PROSODY_HARNESS_CACHE"  # where fetched Prosody versions live
PROSODY_ENV = "PROSODY_HARNESS_PROSODY"  # default for --prosody
SYSTEM_BINARY = "/usr/bin/prosody"
# The versions a user can name; each maps to where it comes from.
SERIES = {"0.12": "system", "13": BACKPORTS}


class ProsodyInstallError(RuntimeError):
    """The Prosody asked for is not there and cannot be fetched; the message says why."""


@dataclass(frozen=True)
class ProsodyInstall:
    """One Prosody: its launchers, its Lua sources and its version."""

    binary: str
    prosodyctl: str
    source_dir: str
    version: str  # e.g. "0.12.3", "13.0.1"

    @property
    def series(self) -> str:
        """ "0.12" or "13": what image names and reports group by."""
        major, _, rest = self.version.partition(".")
        return major if major != "0" else f"0.{rest.split('.')[0]}"


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or REPO / ".cache")


def launcher_settings(launcher: str) -> dict[str, str]:
    """The CFG_* paths a prosody/prosodyctl launcher script sets at its top."""
    try:
        text = Path(launcher).read_text("utf-8", "replace")[:4000]
    except OSError as exc:
        raise ProsodyInstallError(f"cannot read {launcher}: {exc}") from None
    found = dict(re.findall(r"^(CFG_[A-Z]+)\s*=\s*'([^']*)'", text, re.MULTILINE))
    return found


def source_version(source_dir: str) -> str:
    try:
        return Path(source_dir, "prosody.version").read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def install_from_launcher(binary: str) -> ProsodyInstall:
    """Describe the Prosody whose launcher is `binary` (its sources from its CFG_SOURCEDIR)."""
    path = Path(binary)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ProsodyInstallError(f"{binary} is not an executable file")
    source_dir = launcher_settings(binary).get("CFG_SOURCEDIR", "").rstrip("/")
    if not source_dir or not Path(source_dir, "core", "moduleapi.lua").is_file():
        raise ProsodyInstallError(
            f"{binary} does not look like a prosody launcher (no CFG_SOURCEDIR naming a "
            "folder with core/moduleapi.lua)"
        )
    prosodyctl = path.with_name("prosodyctl")
    return ProsodyInstall(
        binary=str(path),
        prosodyctl=str(prosodyctl) if os.access(prosodyctl, os.X_OK) else "",
        source_dir=source_dir,
        version=source_version(source_dir),
    )


def spec_problem(spec: str | None) -> str | None:
    """Why `spec` cannot name a Prosody (None when it may: a series, a path or nothing),
    found without fetching or running anything: a bad --prosody is refused at once."""
    if spec is None or spec in SERIES or "/" in spec or os.path.exists(spec):
        return None
    return f"--prosody {spec!r}: give {' or '.join(SERIES)} or the path of a prosody launcher"


@functools.lru_cache(maxsize=8)
def resolve_prosody(spec: str | None = None) -> ProsodyInstall:
    """`spec` is "0.12", "13", a path to a prosody launcher, or None for the environment
    variable PROSODY_HARNESS_PROSODY, else the prosody on PATH (Debian's 0.12)."""
    spec = spec or os.environ.get(PROSODY_ENV) or None
    if spec is None:
        found = shutil.which("prosody")
        if not found:
            raise ProsodyInstallError(
                "prosody not found on PATH; install it with: apt-get install -y prosody lua-cjson"
            )
        return install_from_launcher(found)
    if spec in SERIES:
        if SERIES[spec] == "system":
            install = install_from_launcher(shutil.which("prosody") or SYSTEM_BINARY)
            if install.series != spec:
                raise ProsodyInstallError(
                    f"--prosody {spec}: the prosody on PATH is {install.version}; "
                    f"pass its path instead, or install Debian's package"
                )
            return install
        return fetch_backport(spec)
    problem = spec_problem(spec)
    if problem:
        raise ProsodyInstallError(problem)
    return install_from_launcher(spec)


def _cached_unpack(name: str, package: str, final_name, ready_glob: str) -> Path:
    """Fetch `package` from bookworm-backports and unpack it under cache/name (once; a
    lock makes parallel runs wait for the first). `final_name(record)` names its folder,
    `ready_glob` finds a finished one."""
    root = cache_dir() / name
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for ready in sorted(root.glob(ready_glob)):
            return ready
        if not shutil.which("dpkg") or not shutil.which("apt-get"):
            raise ProsodyInstallError(
                f"{package} is fetched from Debian's {BACKPORTS}, which needs apt-get and "
                "dpkg; on other systems install Prosody 13 yourself and pass --prosody PATH"
            )
        print(f"prosody-harness: fetching {package} from {BACKPORTS} ...", file=sys.stderr)
        try:
            with tempfile.TemporaryDirectory(dir=root) as scratch:
                deb, record = fetch_package(
                    package, BACKPORTS, Path(scratch) / "deb", cache_dir() / "apt"
                )
                tree = Path(scratch) / "tree"
                unpack(deb, tree)
                final = root / final_name(record)
                _prepare(package, tree, final)
                os.replace(tree, final)  # atomic: a half-unpacked tree is never found
        except DebianError as exc:
            raise ProsodyInstallError(str(exc)) from None
        return next(iter(sorted(root.glob(ready_glob))))


def _prepare(package: str, tree: Path, final: Path) -> None:
    if package == "prosody":
        _write_launchers(tree, final)


def fetch_backport(series: str) -> ProsodyInstall:
    """Prosody `series` from bookworm-backports, unpacked under the cache (once)."""

    def folder(record: dict[str, str]) -> str:
        version = record["Version"].split("-")[0]
        if not version.startswith(series + "."):
            raise ProsodyInstallError(
                f"{BACKPORTS} has prosody {record['Version']}, not a {series} release"
            )
        return version

    launcher = _cached_unpack("prosody", "prosody", folder, f"{series}.*/bin/prosody")
    return install_from_launcher(str(launcher))


def _write_launchers(tree: Path, final: Path) -> None:
    """Copies of the launchers in tree/bin whose CFG_* settings name `final`, where the
    tree is about to be moved."""
    paths = {
        "CFG_SOURCEDIR": final / "usr/lib/prosody",
        "CFG_CONFIGDIR": final / "etc/prosody",
        "CFG_PLUGINDIR": final / "usr/lib/prosody/modules",
        "CFG_DATADIR": final / "var/lib/prosody",
    }
    (tree / "var/lib/prosody").mkdir(parents=True, exist_ok=True)
    (tree / "etc/prosody/conf.d").mkdir(parents=True, exist_ok=True)  # its config includes it
    (tree / "bin").mkdir()
    for name in ("prosody", "prosodyctl"):
        launcher = tree / "bin" / name
        text = (tree / "usr" / "bin" / name).read_text()
        for setting, path in paths.items():
            text = re.sub(
                rf"^{setting}\s*=\s*'[^']*';",
                f"{setting}='{path}';",
                text,
                count=1,
                flags=re.MULTILINE,
            )
        launcher.write_text(text)
        launcher.chmod(0o755)


def fetch_upstream_modules() -> Path:
    """prosody-modules from bookworm-backports, unpacked under the cache (once): the
    community modules, as a reference to compare ours with (`--modules` takes the folder)."""
    return _cached_unpack(
        "prosody-modules",
        "prosody-modules",
        lambda record: record["Version"].replace("~", "_").replace("+", "_"),
        "*/usr/lib/prosody/modules",
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m harness.prosody_install 13`: fetch (if needed) and print where it is."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "version",
        nargs="?",
        default="13",
        help="0.12, 13, a launcher path, or 'upstream-modules' for Debian's prosody-modules",
    )
    args = parser.parse_args(argv)
    try:
        if args.version == "upstream-modules":
            print(fetch_upstream_modules())
            return 0
        install = resolve_prosody(args.version)
    except ProsodyInstallError as exc:
        print(f"prosody-harness: {exc}", file=sys.stderr)
        return 1
    print(f"Prosody {install.version}: {install.binary} (sources {install.source_dir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
