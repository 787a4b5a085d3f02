"""Prosody's own scansion corpus: spec/scansion/ of the Prosody 13.0.1 source, fetched
into the ignored cache folder and run as a test of the harness's scansion support.

    python -m harness.scansion_corpus fetch      # download (once) and print the folder
    python -m harness.scansion_corpus path       # the folder, if it was fetched

The source comes from Debian: `prosody_13.0.1.orig.tar.gz` of bookworm-backports, through
a private apt configuration (harness.debian.PrivateApt) whose only source is a `deb-src`
line for the mirror this machine already uses. `apt-get source --download-only` fetches
the orig tarball, checked against the SHA256 the .dsc lists (the .dsc itself when the
mirror has it, checked against the signed Sources index; else the index's own copy of the
same list). Only spec/scansion/ is kept, under .cache/scansion-corpus/13.0.1/.

The folder is used as it is: its scripts and its prosody.cfg.lua run unchanged
(`prosody-harness run .cache/scansion-corpus/13.0.1 --prosody 13`); the folder's
prosody.cfg.lua is the profile of every script in it (harness.lua_config). Beside them the
fetcher writes one file of its own, a `defaults.yaml` (the folder-defaults mechanism of
every scenario folder): the corpus is Prosody 13's, and its config does not load on 0.12
(`FileLines`), so on other versions each script is reported as skipped with that reason.
On Prosody 13 every script passes on every target (docs/scansion-corpus.md).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

from harness.debian import BACKPORTS, AptSource, DebianError, PrivateApt, debian_mirror
from harness.prosody_install import cache_dir

VERSION = "13.0.1"
PACKAGE = "prosody"
CORPUS_DIR = "spec/scansion"
FOLDER = "scansion-corpus"
# A marker file in a folder of .scs scripts: this folder is Prosody's own corpus.
MARKER = ".prosody-scansion-corpus"
TAG = "scansion-corpus"
SERIES = "13"
BECAUSE = (
    "Prosody 13.0.1's own integration tests: their prosody.cfg.lua uses FileLines and "
    "prosody.util.json, which Prosody 0.12 does not have"
)


class CorpusError(RuntimeError):
    """The corpus could not be fetched; the message says why."""


def corpus_dir(version: str = VERSION) -> Path:
    return cache_dir() / FOLDER / version


def fetch(version: str = VERSION) -> Path:
    """The corpus folder, downloaded and unpacked on first use (a lock serialises runs)."""
    root = cache_dir() / FOLDER
    root.mkdir(parents=True, exist_ok=True)
    final = corpus_dir(version)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / MARKER).is_file():
            _write_defaults(final)
            return final
        if not shutil.which("apt-get"):
            raise CorpusError("fetching the corpus needs apt-get (Debian's source package)")
        print(
            f"prosody-harness: fetching {PACKAGE} {version} sources from {BACKPORTS} ...",
            file=sys.stderr,
        )
        with tempfile.TemporaryDirectory(dir=root) as scratch:
            download = Path(scratch) / "download"
            download.mkdir()
            orig = _download_source(version, download, cache_dir() / "apt-src")
            tree = Path(scratch) / "tree"
            _extract_corpus(orig, tree)
            digest = hashlib.sha256(orig.read_bytes()).hexdigest()
            (tree / MARKER).write_text(f"{CORPUS_DIR} of {orig.name} (SHA256 {digest})\n")
            _write_defaults(tree)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tree, final)
    return final


def _write_defaults(folder: Path) -> None:
    """The folder's defaults.yaml: the corpus's Prosody version and tag (see above)."""
    text = (
        "# Written by harness/scansion_corpus.py (not part of Prosody's corpus).\n"
        f"tags: [{TAG}]\n"
        f'prosody_versions: ["{SERIES}"]\n'
        f"because: {json.dumps(BECAUSE)}\n"
    )
    path = folder / "defaults.yaml"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


def _download_source(version: str, into: Path, apt_root: Path) -> Path:
    """The orig tarball of `version`, checked against the SHA256 the .dsc lists: the .dsc
    itself when the mirror has it (itself checked against the signed Sources index),
    else the Sources index's record, which carries the same Checksums-Sha256 list."""
    source = AptSource(debian_mirror(), BACKPORTS)
    apt = PrivateApt(apt_root, [f"deb-src {source.uri} {source.suite} main"])
    apt.run("apt-get", "update")
    record = _source_record(apt.run("apt-cache", "showsrc", PACKAGE), version)
    listed = _sha256_list(record, "the Sources index")
    spec = f"{PACKAGE}={record['Version']}"
    apt.run("apt-get", "source", "--download-only", "--tar-only", spec, cwd=into)
    try:
        apt.run("apt-get", "source", "--download-only", "--dsc-only", spec, cwd=into)
    except DebianError:
        print(
            f"prosody-harness: the mirror has no .dsc of {spec}; checking the tarball "
            "against the Sources index's copy of its checksums",
            file=sys.stderr,
        )
    dscs = sorted(into.glob(f"{PACKAGE}_*.dsc"))
    if dscs:
        _check(dscs[0], listed)  # the .dsc is what the signed index says it is
        listed = _sha256_list(
            {"Checksums-Sha256": _field(dscs[0].read_text(errors="replace"), "Checksums-Sha256")},
            dscs[0].name,
        )
    origs = [name for name in listed if ".orig.tar." in name and not name.endswith(".asc")]
    if not origs:
        raise CorpusError(f"{spec}: no .orig tarball is listed")
    orig = into / origs[0]
    _check(orig, listed)
    return orig


def _source_record(text: str, version: str) -> dict[str, str]:
    for block in text.split("\n\n"):
        if re.search(rf"^Version: {re.escape(version)}-", block, re.MULTILINE):
            return {
                "Version": _field(block, "Version"),
                "Checksums-Sha256": _field(block, "Checksums-Sha256"),
            }
    found = re.findall(r"^Version: (\S+)$", text, re.MULTILINE)
    raise CorpusError(
        f"{BACKPORTS} has no source of {PACKAGE} {version} (it has: {', '.join(found) or 'none'})"
    )


def _field(block: str, name: str) -> str:
    """A (possibly multi-line) field of a Debian control paragraph."""
    found = re.search(rf"^{name}:[ ]?(.*(?:\n .*)*)", block, re.MULTILINE)
    if not found:
        raise CorpusError(f"no {name} field")
    return found[1]


def _sha256_list(record: dict[str, str], where: str) -> dict[str, tuple[str, int]]:
    listed = {}
    for line in record["Checksums-Sha256"].splitlines():
        if line.strip():
            digest, size, name = line.split()
            listed[name] = (digest, int(size))
    if not listed:
        raise CorpusError(f"{where} lists no SHA256 checksums")
    return listed


def _check(path: Path, listed: dict[str, tuple[str, int]]) -> None:
    if path.name not in listed:
        raise CorpusError(f"{path.name} is not among the checked files")
    if not path.is_file():
        raise CorpusError(f"{path.name} was not downloaded")
    data = path.read_bytes()
    digest, size = listed[path.name]
    got = hashlib.sha256(data).hexdigest()
    if got != digest or len(data) != size:
        raise CorpusError(
            f"{path.name}: SHA256 {got} ({len(data)} bytes) does not match "
            f"the listed {digest} ({size} bytes)"
        )


def _extract_corpus(orig: Path, into: Path) -> None:
    """spec/scansion/ of the tarball, flattened into `into` (regular files only)."""
    into.mkdir()
    count = 0
    with tarfile.open(orig) as tar:
        for member in tar.getmembers():
            parts = member.name.split("/", 1)
            if len(parts) < 2 or not parts[1].startswith(CORPUS_DIR + "/"):
                continue
            relative = parts[1][len(CORPUS_DIR) + 1 :]
            if not member.isfile() or not relative or ".." in relative.split("/"):
                continue
            target = into / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            target.write_bytes(source.read())
            count += 1
    if count == 0:
        raise CorpusError(f"{orig.name} holds no {CORPUS_DIR}/")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["fetch", "path"], nargs="?", default="fetch")
    parser.add_argument("--version", default=VERSION, help=f"Prosody version (default {VERSION})")
    args = parser.parse_args(argv)
    if args.command == "path":
        folder = corpus_dir(args.version)
        if not (folder / MARKER).is_file():
            print(
                "prosody-harness: not fetched yet: python -m harness.scansion_corpus fetch",
                file=sys.stderr,
            )
            return 1
        print(folder)
        return 0
    try:
        print(fetch(args.version))
    except (CorpusError, DebianError) as exc:
        print(f"prosody-harness: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
