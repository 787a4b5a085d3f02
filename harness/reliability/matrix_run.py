"""Running the fault matrix on one Prosody version: every module that calls out, every
backend fault, every action that can be in flight; each cell checked against its
defined outcome (matrix_actions.expectation), with the server's log and its
responsiveness watched while the cell runs."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from harness.reliability.matrix_actions import ACTIONS, Observed, expectation
from harness.reliability.matrix_faults import FAULTS, BackendFault
from harness.reliability.matrix_rigs import RIGS, ResponsivenessProbe, Rig

RESPONSIVE_BOUND = 2.0  # the slowest bystander ping a cell may cause, in seconds

#: Cells whose defined outcome a module does not meet yet, with the known defect
#: (harness.reliability.known_defects) each one is: (module, action, fault) -> id.
KNOWN_CELLS: dict[tuple[str, str, str], str] = {}


@dataclass
class CellResult:
    version: str
    module: str
    action: str
    fault: str
    fault_title: str
    expected: str
    outcome: str
    seconds: float
    stored_ok: bool
    recovered: bool | None
    slowest_ping: float
    problems: list[str] = field(default_factory=list)
    known: str | None = None
    log: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if not self.problems:
            return "as defined"
        return "known defect" if self.known else "FAILED"

    def to_json(self) -> dict:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 2)
        data["slowest_ping"] = round(self.slowest_ping, 2)
        data["verdict"] = self.verdict
        data["log"] = [line[:300] for line in self.log[:3]]
        return data


def run_cell(rig: Rig, version: str, action_name: str, fault: BackendFault) -> CellResult:
    channel = rig.channel(fault.uses_tls_channel)
    expect = expectation(action_name, fault)
    action = ACTIONS[rig.module][action_name]
    seen = len(rig.target.log())
    with ResponsivenessProbe(rig.bystander) as probe:
        try:
            observed = action(rig, channel, fault, channel.backend.restore)
        except Exception as exc:  # noqa: BLE001 - a crashed cell is a failed cell
            observed = Observed(
                f"the action failed: {type(exc).__name__}: {exc}"[:300], 0.0, False, False
            )
        finally:
            channel.backend.restore()
    time.sleep(0.1)
    errors = [line.raw for line in rig.target.log()[seen:] if line.is_error]
    problems = []
    if observed.outcome not in expect.outcomes:
        problems.append(f"got {observed.outcome!r}, defined: {sorted(expect.outcomes)}")
    if observed.seconds > expect.bound:
        problems.append(f"took {observed.seconds:.2f} s, bound {expect.bound:g} s")
    if not observed.stored_ok:
        problems.append("something was stored wrong: " + "; ".join(observed.notes))
    if observed.recovered is False:
        problems.append("the same action did not work once the backend was healthy again")
    if probe.slowest > RESPONSIVE_BOUND or probe.failures:
        problems.append(
            f"Prosody stalled: the slowest bystander ping took "
            f"{probe.slowest:.2f} s ({probe.failures} lost)"
        )
    if errors:
        problems.append(f"{len(errors)} error line(s) in the log: {errors[0][:200]}")
    return CellResult(
        version,
        rig.module,
        action_name,
        fault.name,
        fault.title,
        expect.text,
        observed.outcome,
        observed.seconds,
        observed.stored_ok,
        observed.recovered,
        probe.slowest,
        problems,
        KNOWN_CELLS.get((rig.module, action_name, fault.name)) if problems else None,
        errors,
    )


def run_matrix(
    version: str, modules: list[str] | None = None, faults: list[str] | None = None
) -> list[CellResult]:
    """Every cell for this version (or the chosen modules and faults)."""
    results: list[CellResult] = []
    for module, start in RIGS.items():
        if modules and module not in modules:
            continue
        rig = start(version)
        try:
            for action_name in ACTIONS[module]:
                for fault in FAULTS:
                    if faults and fault.name not in faults:
                        continue
                    results.append(run_cell(rig, version, action_name, fault))
        finally:
            rig.stop()
    return results
