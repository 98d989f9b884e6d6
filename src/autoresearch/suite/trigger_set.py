"""A suite's trigger set: queries that should, or should not, make the agent load the skill.

Parsed here (with file and line for every problem) so the suite loader needs nothing else; measuring
and scoring them is `triggers.py`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Problem
from .userfiles import OutsideError

TRIGGER_KEYS = {"id", "query", "should_trigger", "split"}
HOLDOUT_SHARE = 0.4


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
        if split is not None and split not in ("train", "holdout"):
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
        try:  # copied into every workspace, like fixtures: inside the suite's folder unless outside reads are allowed
            folder = reader.confined(value)
        except OutsideError as exc:
            reader.fail(f"distractor {exc}", data.line_of("distractors"), "distractors")
            continue
        if not (folder / "SKILL.md").is_file():
            reader.fail(f"distractor {value!r} is not a skill folder (no {folder / 'SKILL.md'})",
                        data.line_of("distractors"), "distractors")
        else:
            found.append(folder)
    return found
