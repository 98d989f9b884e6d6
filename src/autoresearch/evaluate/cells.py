"""A cell: one (input, eval, run) scored pass, fail or error, and the pass rate of a set of cells.

Errors (a failed target run, an unparseable judge answer, a crashed check) are kept apart and never
counted as a fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..decide.intervals import Rate, clustered_size

PASS, FAIL, ERROR = "pass", "fail", "error"


@dataclass(frozen=True, slots=True)
class Cell:
    input_id: str
    eval_id: str
    run: int
    status: str  # pass | fail | error
    reason: str


def rate_of(cells: Iterable[Cell], by: str = "output") -> Rate:
    """The pass rate of `cells`, its interval clustered `by` output (the rate of these inputs) or by input
    (the rate on new inputs: what a holdout is for); see `stats.Rate`."""
    passed = failed = errors = 0
    counts: dict = {}
    for c in cells:
        if c.status == PASS:
            passed += 1
        elif c.status == FAIL:
            failed += 1
        else:
            errors += 1
            continue
        row = counts.setdefault((c.input_id, c.run), [0, 0])
        row[0] += c.status == PASS
        row[1] += 1
    n_eff, df = clustered_size(counts, by)
    return Rate(passed, failed, errors, n_eff, df, by)


def cells_map(cells: Iterable[Cell]) -> dict:
    """{(input, eval, run): True for a pass, False for a fail, None for an error}."""
    return {(c.input_id, c.eval_id, c.run): None if c.status == "error" else c.status == "pass" for c in cells}
