"""Where a run's time went (`prosody-harness run --profile`): each phase's total across
the scenarios, its share, and its cost per scenario."""

from __future__ import annotations

from collections import defaultdict

from harness.runner.results import ScenarioResult


def phase_totals(results: list[ScenarioResult]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for result in results:
        for phase, seconds in result.timings.items():
            totals[phase] += seconds
        measured = sum(result.timings.values()) - result.timings.get("server start", 0.0)
        # What no phase accounts for: the runner's own bookkeeping around the steps.
        totals["other"] += max(0.0, result.duration - measured)
    return dict(totals)


def profile_table(results: list[ScenarioResult], wall_seconds: float, workers: int) -> str:
    ran = [r for r in results if r.timings or r.duration]
    if not ran:
        return "no scenario ran: nothing to profile"
    totals = phase_totals(ran)
    spent = sum(totals.values()) or 1.0
    lines = [
        f"time per phase, summed over {len(ran)} scenario(s) "
        f"({spent:.2f} s of work in {wall_seconds:.2f} s on {workers} worker(s); "
        f"{wall_seconds / len(ran):.3f} s per scenario)",
        f"  {'phase':<24} {'total s':>8} {'share':>6} {'ms/scenario':>12}",
    ]
    for phase, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        lines.append(
            f"  {phase:<24} {seconds:>8.2f} {seconds / spent:>6.0%} "
            f"{1000 * seconds / len(ran):>12.1f}"
        )
    return "\n".join(lines)
