"""Trigger evals: does the agent load THIS skill when it should, and leave it alone when it should not?

A suite's `triggers:` are queries with `should_trigger`. Each is run in a harness target in implicit
mode (the agent must choose), several runs each, with other skills installed beside the target as
distractors. A trigger is the agent loading this skill (Claude Code's Skill tool naming it, pi's read
of its SKILL.md). The queries become inputs of a derived suite with two evals, so the runner, the
paired keep rule, racing, holdout and the journal work on triggers unchanged; a harness failure is an
error cell, never a "did not trigger". Recall and precision are computed from those cells.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..decide.intervals import Rate
from ..suite.checks import Check

TRIGGER_EVAL, NO_TRIGGER_EVAL = "triggers", "no-false-trigger"


def trigger_suite(suite: Any) -> Any:
    """The suite whose inputs are the trigger queries, scored by two evals, on the target in implicit mode."""
    from ..suite.suite import Eval, Input

    if not suite.triggers:
        from ..errors import input_error

        raise input_error(str(suite.path), "no `triggers:` in this suite: add trigger queries with `should_trigger`")
    inputs = tuple(Input(t.id, t.query, t.split) for t in suite.triggers)
    positive = tuple(t.id for t in suite.triggers if t.should_trigger)
    negative = tuple(t.id for t in suite.triggers if not t.should_trigger)
    evals = []
    if positive:
        evals.append(Eval(TRIGGER_EVAL, "Does the agent load the skill for a query it is meant for?",
                          Check("skill-used"), inputs=positive))
    if negative:
        evals.append(Eval(NO_TRIGGER_EVAL, "Does the agent leave the skill alone for a query it is not meant for?",
                          Check("skill-used", negate=True), inputs=negative))
    options = {**dict(suite.model.options), "mode": "implicit"}
    model = dataclasses.replace(suite.model, options=tuple(sorted(options.items())))
    return dataclasses.replace(suite, inputs=inputs, evals=tuple(evals), model=model)


@dataclass(frozen=True)
class TriggerScores:
    """Recall, precision and false triggers of one split, from (query, run) cells."""

    recall: Rate  # should trigger and did / should trigger
    precision: Rate  # did trigger and should / did trigger
    false_triggers: dict[str, tuple[int, int]]  # query id -> (runs that triggered, runs)
    errors: int

    def to_dict(self) -> dict:
        return {"recall": self.recall.to_dict(), "precision": self.precision.to_dict(),
                "false_triggers": {k: {"triggered": t, "runs": n} for k, (t, n) in self.false_triggers.items()},
                "errors": self.errors}


def trigger_scores(cells: list, splits: dict[str, str], split: str | None = None) -> TriggerScores:
    chosen = [c for c in cells if split is None or splits[c.input_id] == split]
    errors = sum(1 for c in chosen if c.status == "error")
    scored = [c for c in chosen if c.status != "error"]
    true_pos = sum(1 for c in scored if c.eval_id == TRIGGER_EVAL and c.status == "pass")
    false_neg = sum(1 for c in scored if c.eval_id == TRIGGER_EVAL and c.status == "fail")
    false_pos = sum(1 for c in scored if c.eval_id == NO_TRIGGER_EVAL and c.status == "fail")
    per_query: dict[str, tuple[int, int]] = {}
    for c in scored:
        if c.eval_id == NO_TRIGGER_EVAL:
            triggered, runs = per_query.get(c.input_id, (0, 0))
            per_query[c.input_id] = (triggered + (c.status == "fail"), runs + 1)
    return TriggerScores(Rate(true_pos, false_neg), Rate(true_pos, false_pos), per_query, errors)


def trigger_table(result: Any) -> str:
    """The trigger table `eval --triggers` prints: recall and precision per split, then false triggers."""
    lines = [f"  {'split':<9} {'recall':>8}  {'95% interval':<14} {'':>9}   {'precision':>9}  {'95% interval':<14}"]
    for split in ("train", "holdout"):
        if split not in result.splits.values():
            continue
        s = trigger_scores(result.cells, result.splits, split)
        lines.append(f"  {split:<9} {_rate(s.recall)}   {_rate(s.precision)}"
                     + (f"   {s.errors} errors" if s.errors else ""))
    overall = trigger_scores(result.cells, result.splits)
    misfires = [(q, t, n) for q, (t, n) in sorted(overall.false_triggers.items()) if t]
    if misfires:
        lines.append("\n  false triggers (queries that should not load the skill):")
        lines.extend(f"    {q}: {t}/{n} runs" for q, t, n in misfires)
    return "\n".join(lines)


def _rate(rate: Rate) -> str:
    low, high = rate.interval
    return f"{rate.value:8.1%}  [{low:4.0%} – {high:4.0%}] {f'{rate.passed}/{rate.n}':>9}"


def triggers_json(result: Any) -> dict:
    """Recall, precision and false triggers per split and overall, for `eval --json`."""
    splits = sorted(set(result.splits.values()))
    data = {split: trigger_scores(result.cells, result.splits, split).to_dict() for split in splits}
    data["overall"] = trigger_scores(result.cells, result.splits).to_dict()
    return data


def trigger_misses(result: Any, limits: dict[str, float]) -> list[str]:
    """Which of `recall=` / `precision=` thresholds the evaluated queries miss, in words."""
    scores = trigger_scores(result.cells, result.splits)
    misses = []
    for name, limit in limits.items():
        rate = getattr(scores, name)
        if rate.value < limit:
            misses.append(f"trigger {name} {rate.value:.1%} is below the threshold {limit:.1%}")
    return misses
