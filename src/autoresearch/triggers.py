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
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checks import Check
from .errors import Problem
from .stats import Rate

TRIGGER_KEYS = {"id", "query", "should_trigger", "split"}
HOLDOUT_SHARE = 0.4
TRIGGER_EVAL, NO_TRIGGER_EVAL = "triggers", "no-false-trigger"


@dataclass(frozen=True)
class Trigger:
    id: str
    query: str
    should_trigger: bool
    split: str


def _normalised(query: str) -> str:
    return " ".join(re.findall(r"\w+", query.lower()))


def stratified_split(ids: list[str]) -> dict[str, str]:
    """A reproducible split of one class: about 40% holdout, chosen by a hash of the id."""
    ranked = sorted(ids, key=lambda i: hashlib.sha256(i.encode()).hexdigest())
    holdout = round(len(ranked) * HOLDOUT_SHARE) if len(ranked) > 1 else 0
    return {i: ("holdout" if n < holdout else "train") for n, i in enumerate(ranked)}


def parse_triggers(reader: Any, data: Any) -> tuple[list[Trigger], list[Problem]]:
    """Read `triggers:` from a suite; problems go to `reader`, notes come back as warnings."""
    from .suite import SPLITS

    raw: list[tuple[str, str, bool, str | None, int]] = []
    seen_queries: dict[str, int] = {}
    for where, item, trigger_id in reader.items(data, "triggers", TRIGGER_KEYS, "trigger queries"):
        query = reader.text(item, "query", f"{where}.")
        should = item.get("should_trigger")
        if not isinstance(should, bool):
            reader.fail("required: `should_trigger: true` or `false`", item.line_of("should_trigger") if
                        "should_trigger" in item else item.line, f"{where}.should_trigger")
            continue
        split = item.get("split")
        if split is not None and split not in SPLITS:
            reader.fail(f"must be 'train' or 'holdout', got {split!r}", item.line_of("split"), f"{where}.split")
            continue
        if query is None or trigger_id is None:
            continue
        key = _normalised(query)
        if key in seen_queries:
            reader.fail(f"duplicate query (the same words as line {seen_queries[key]})", item.line_of("query"),
                        f"{where}.query")
            continue
        seen_queries[key] = item.line_of("query")
        raw.append((trigger_id, query, should, split, item.line))
    warnings = []
    unsplit = [r for r in raw if r[3] is None]
    assigned: dict[str, str] = {}
    for should in (True, False):
        assigned.update(stratified_split([r[0] for r in unsplit if r[2] is should]))
    if unsplit:
        holdout = sum(1 for r in unsplit if assigned[r[0]] == "holdout")
        warnings.append(Problem(str(reader.path), f"{len(unsplit)} trigger queries have no `split`: a stratified "
                                f"split put {holdout} of them in holdout (about 40% of each class); write "
                                "`split:` on each to fix it", data.line_of("triggers"), "triggers", "warning"))
    triggers = [Trigger(i, q, s, sp or assigned[i]) for i, q, s, sp, _ in raw]
    if triggers and all(t.should_trigger for t in triggers):
        warnings.append(Problem(str(reader.path), "every trigger query should trigger: precision (false triggers) "
                                "cannot be measured; add queries that should not", data.line_of("triggers"),
                                "triggers", "warning"))
    elif triggers and not any(t.should_trigger for t in triggers):
        warnings.append(Problem(str(reader.path), "no trigger query should trigger: recall cannot be measured; add "
                                "queries that should", data.line_of("triggers"), "triggers", "warning"))
    if triggers and not any(t.split == "train" for t in triggers):
        reader.fail("every trigger query is holdout: at least one must be `split: train`", data.line_of("triggers"),
                    "triggers")
    return triggers, warnings


def parse_distractors(reader: Any, data: Any) -> list[Path]:
    """Other skill folders installed beside the target, as in real use (relative to the suite)."""
    raw = data.get("distractors", [])
    if not isinstance(raw, list) or not all(isinstance(d, str) for d in raw):
        reader.fail("must be a list of skill folders", data.line_of("distractors"), "distractors")
        return []
    found = []
    for value in raw:
        folder = reader.path.parent / value
        if not (folder / "SKILL.md").is_file():
            reader.fail(f"distractor {value!r} is not a skill folder (no {folder / 'SKILL.md'})",
                        data.line_of("distractors"), "distractors")
        else:
            found.append(folder)
    return found


def trigger_suite(suite: Any) -> Any:
    """The suite whose inputs are the trigger queries, scored by two evals, on the target in implicit mode."""
    from .suite import Eval, Input

    if not suite.triggers:
        from .errors import input_error

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


def import_trigger_set(path: str | Path, skill: str | None = None) -> Any:
    """skill-creator's trigger eval set (`[{"query", "should_trigger"}]`) as a suite of trigger queries,
    with a stratified 60/40 split written out."""
    from .errors import InputError, input_error
    from .importers import Imported, _slug, _unique

    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise input_error(str(path), f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise input_error(str(path), "not UTF-8 text: save the file as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise input_error(str(path), f"malformed JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
    if not isinstance(data, list) or not data:
        raise input_error(str(path), 'expected a list: [{"query": "...", "should_trigger": true}, ...]', 1)
    problems, rows, ids, seen = [], [], set(), set()
    for index, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("query"), str) or not item["query"].strip() \
                or not isinstance(item.get("should_trigger"), bool):
            problems.append(Problem(str(path), 'each item needs a non-empty "query" and "should_trigger": true or '
                                    "false", None, f"[{index}]"))
            continue
        if _normalised(item["query"]) in seen:
            problems.append(Problem(str(path), "duplicate query", None, f"[{index}].query"))
            continue
        seen.add(_normalised(item["query"]))
        rows.append({"id": _unique(ids, _slug(item["query"], f"q{index + 1}")), "query": item["query"],
                     "should_trigger": item["should_trigger"]})
    if problems:
        raise InputError(problems)
    for should in (True, False):
        split = stratified_split([r["id"] for r in rows if r["should_trigger"] is should])
        for row in rows:
            if row["id"] in split:
                row["split"] = split[row["id"]]
    return Imported({"skill": skill or "SKILL.md", "model": "claude-code", "runs": 3, "triggers": rows})
