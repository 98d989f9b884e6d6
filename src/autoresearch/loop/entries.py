"""Building a journal line: its defaults, scores, per-eval rates, the section's diff, paired wins, near misses."""

from __future__ import annotations

import difflib
from dataclasses import asdict
from datetime import datetime, timezone

from ..decide.stats import scored_pairs
from ..evaluate.cells import Cell, cells_map, rate_of
from ..evaluate.runner import EvalResult, Spend
from .history import State

NEAR_MISS = 2.0  # a discard that gained and whose p is within this factor of alpha is a near miss


def utc_now() -> str:
    """The time now in UTC to the second, as journal lines and run.json record it."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_entry(state: State, **fields) -> dict:
    """A journal line for the state's next attempt: every field at its default, then `fields`."""
    entry = {"id": state.next_id, "timestamp": utc_now(), "parent": None, "section": None, "focus": "",
             "hypothesis": "", "kind": "", "decision": "", "reason": "", "scores": {}, "best_scores": {},
             "per_eval": {}, "p_value": None, "wins": None, "losses": None, "runs": [], "raced": False,
             "calls": 0, "tokens": asdict(Spend().usage), "cost": 0.0, "seconds": 0.0,
             "skill_before": state.best_sha, "skill_after": state.best_sha, "diff": "",
             "motivation": []}
    entry.update(fields)
    return entry


def focus_of(hypothesis: str, failures: list[dict]) -> str:
    """The first failing eval the hypothesis names: what the attempt aimed at."""
    for f in failures:
        if f["id"] in hypothesis:
            return f["id"]
    return ""


def rate_dict(cells: list[Cell]) -> dict:
    """The pass rate of `cells`, as a journal line stores it."""
    return rate_of(cells).to_dict()


def scores_of(train: EvalResult, holdout: EvalResult | None) -> dict:
    """The train and holdout pass rates of a version, as a journal line stores them."""
    return {"train": train.rate().to_dict(), "holdout": holdout.rate(by="input").to_dict() if holdout else None}


def per_eval(result: EvalResult) -> dict:
    """Each eval's pass rate, rounded for the journal."""
    return {k: round(v.value, 6) for k, v in result.by("eval_id").items()}


def section_diff(before: str, after: str, section: str) -> str:
    """The unified diff of one section's text, before and after an attempt."""
    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        f"a/{section}", f"b/{section}"))


def is_near_miss(decision: str, p_value: float, wins: int, losses: int, alpha: float) -> bool:
    """A discard that gained on the paired checks with p just above the level: worth building on."""
    return decision == "discard" and wins > losses and p_value <= NEAR_MISS * alpha


def paired_by_eval(candidate: list[Cell], best: list[Cell]) -> dict[str, list[int]]:
    """Per eval, [wins, losses] of the candidate against the best on the same (input, run) cells."""
    counts: dict[str, list[int]] = {}
    for (_, eval_id, _), passed, old in scored_pairs(cells_map(candidate), cells_map(best)):
        if old != passed:
            counts.setdefault(eval_id, [0, 0])[0 if passed else 1] += 1
    return counts
