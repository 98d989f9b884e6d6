"""The holdout's say on a keep: the candidate's holdout against the baseline's and the best's, and the optional gate."""

from __future__ import annotations

from ..decide.stats import pair, verdict
from ..evaluate.cells import cells_map
from ..runs.journal import RunDir


def holdout_tests(run: RunDir, baseline_sha: str, best_sha: str, candidate: dict, alpha: float) -> dict:
    """The candidate's holdout against the baseline's (the verdict shown) and the current best's (the gate)."""
    tests = {}
    for name, digest in (("baseline", baseline_sha), ("best", best_sha)):
        stored = run.load_cells(digest, "holdout")
        if stored:
            tests[name] = verdict(pair(candidate, cells_map(stored[0])), alpha)
    return tests.get("baseline", {}) | {"against_best": tests.get("best")}


def holdout_refusal(test: dict, gate: bool) -> str | None:
    """With --holdout-gate (`gate`): why a keep is refused because its holdout score is worse beyond noise."""
    if not gate:
        return None
    for name, result in (("the baseline", test), ("the best", test.get("against_best"))):
        if result and result.get("verdict") == "worse":
            return f"holdout worse than {name}'s beyond noise: {result['before']:.1%} -> {result['after']:.1%} " \
                   f"(p = {result['p_worse']:.4f})"
    return None
