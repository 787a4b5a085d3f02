"""The fault matrix on real Prosody 0.12 and 13: each module that calls out (roster fetch,
MUC auth, webhook) meets each backend fault (refused, reset mid-answer, hang, slow past
the timeout, 5xx, wrong content type, invalid JSON, a 50 MB answer, TLS failure, redirect
loop) while something is in flight (a login, a refresh of many users, a join, an iq
waiting on the webhook). Every cell must have its defined outcome (see
docs/fault-matrix.md, generated from these runs); a cell that is a known defect of a
module fixed elsewhere counts as known (its xfail test is in test_known_defects.py).

`make fuzz` runs it and records the cells (PROSODY_HARNESS_FIGURES); `make test` leaves
it out (about a minute per version)."""

from __future__ import annotations

import pytest
from reliability_settings import require_prosody

from harness.reliability import figures
from harness.reliability.matrix_run import run_matrix

pytestmark = [pytest.mark.fault_matrix, pytest.mark.prosody, pytest.mark.timeout(1800)]


@pytest.mark.parametrize("version", ["0.12", "13"])
def test_every_cell_has_its_defined_outcome(version):
    require_prosody(version)
    cells = run_matrix(version)
    outcomes: dict[str, int] = {}
    for cell in cells:
        outcomes[cell.verdict] = outcomes.get(cell.verdict, 0) + 1
    figures.record("matrix", version, {"cells": len(cells), "outcomes": outcomes})
    figures.record("matrix_cells", version, [cell.to_json() for cell in cells])
    failed = [cell for cell in cells if cell.verdict == "FAILED"]
    report = "\n".join(f"- {c.module} / {c.action} / {c.fault_title}: {c.problems}" for c in failed)
    assert len(cells) == 40
    assert not failed, f"{len(failed)} of {len(cells)} cells on {version}:\n{report}"
