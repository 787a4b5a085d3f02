"""Prosody's own scansion corpus: fetched and checked, read in full, counted in reports.
(`make test` runs it on every target: see the Makefile.)"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from harness import scansion_corpus
from harness.runner.results import FAILED, PASSED, SKIPPED, ScenarioResult
from harness.runner.terminal import scansion_lines
from harness.scenario import load_scenarios

SOURCES = """\
Package: prosody
Version: 13.0.1-1~bpo12+1
Checksums-Sha256:
 {dsc} 12 prosody_13.0.1-1~bpo12+1.dsc
 {orig} {size} prosody_13.0.1.orig.tar.gz
Homepage: http://www.prosody.im/

Package: prosody
Version: 0.12.3-1
Checksums-Sha256:
 {dsc} 12 prosody_0.12.3-1.dsc
"""


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_the_tarball_is_checked_against_the_listed_sha256(tmp_path):
    data = _tarball({"prosody-13.0.1/README": b"hi"})
    orig = tmp_path / "prosody_13.0.1.orig.tar.gz"
    orig.write_bytes(data)
    text = SOURCES.format(dsc="0" * 64, orig=hashlib.sha256(data).hexdigest(), size=len(data))
    record = scansion_corpus._source_record(text, "13.0.1")
    assert record["Version"] == "13.0.1-1~bpo12+1"
    listed = scansion_corpus._sha256_list(record, "the index")
    scansion_corpus._check(orig, listed)  # as listed: fine
    orig.write_bytes(data + b"tampered")
    with pytest.raises(scansion_corpus.CorpusError, match="does not match"):
        scansion_corpus._check(orig, listed)
    with pytest.raises(scansion_corpus.CorpusError, match="no source of prosody 14.0"):
        scansion_corpus._source_record(text, "14.0")


def test_only_spec_scansion_is_kept_flattened(tmp_path):
    orig = tmp_path / "orig.tar.gz"
    orig.write_bytes(
        _tarball(
            {
                "prosody-13.0.1/spec/scansion/basic.scs": b"# Basic\n",
                "prosody-13.0.1/spec/scansion/prosody.cfg.lua": b"-- config\n",
                "prosody-13.0.1/spec/util_jid_spec.lua": b"-- not the corpus\n",
                "prosody-13.0.1/spec/scansion/../../escape.txt": b"no\n",
            }
        )
    )
    scansion_corpus._extract_corpus(orig, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["basic.scs", "prosody.cfg.lua"]


def test_the_fetched_corpus_reads_in_full():
    folder = scansion_corpus.fetch()
    scripts = sorted(folder.glob("*.scs"))
    assert len(scripts) == 50
    scenarios = [s for path in scripts for s in load_scenarios(path)]
    assert all(s.matching == "scansion" for s in scenarios)
    assert all(s.prosody == {"config_file": str(folder / "prosody.cfg.lua")} for s in scenarios)
    assert all(s.prosody_versions == ["13"] and s.because for s in scenarios)
    assert all(scansion_corpus.TAG in s.tags for s in scenarios)
    names = {name for s in scenarios for name in s.clients}
    assert {"Juliet's phone", "Bob's phone"} <= names


def _result(file: str, target: str, status: str) -> ScenarioResult:
    return ScenarioResult(Path(file).stem, file, 1, target, status)


def test_reports_count_scansion_scripts_on_a_line_of_their_own():
    results = [
        _result("c/a.scs", "prosody", PASSED),
        _result("c/b.scs", "prosody", FAILED),
        _result("c/c.scs", "prosody", SKIPPED),
        _result("c/a.scs", "sandbox", PASSED),
        _result("c/b.scs", "sandbox", PASSED),
        _result("s/x.yaml", "sandbox", FAILED),
    ]
    assert scansion_lines(results) == [
        "scansion scripts on prosody: 1/2 passed, 1 skipped; not passed: b.scs",
        "scansion scripts on sandbox: 2/2 passed",
    ]


# Scripts that depend on what the harness had to decide where scansion's documentation is
# silent (docs/scansion-corpus.md): each must pass, on real Prosody and the sandbox alike.
TELLING = [
    "keep_full_sub_req.scs",  # all clients leave and come back: the idle session
    "muc_members_only_change.scs",  # a status 104 message passed over
    "mam_extended.scs",  # {scansion:capture:NAME}
    "muc_whois_anyone_member.scs",  # one client's request right after another's
    "muc_outcast_reason.scs",  # sends after the client disconnected
    "http_upload.scs",  # text of a strict element left unchecked when not given
]


def test_the_scripts_that_tell_pass_on_real_prosody_and_the_sandbox():
    from scansion_helpers import messages, run, verdicts

    folder = scansion_corpus.fetch()
    report = run(
        [folder / name for name in TELLING],
        targets=("sandbox", "prosody"),
        prosody=scansion_corpus.SERIES,
    )
    assert set(verdicts(report).values()) == {PASSED}, messages(report)
    assert len(report.results) == 2 * len(TELLING) and not report.disagreements
