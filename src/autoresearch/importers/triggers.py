"""Import skill-creator's trigger eval set as a suite's `triggers:`, split per class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import Problem
from ..suite.trigger_set import _normalised, stratified_split


def import_trigger_set(path: str | Path, skill: str | None = None) -> Any:
    """skill-creator's trigger eval set (`[{"query", "should_trigger"}]`) as a suite of trigger queries,
    with a stratified 60/40 split written out."""
    from ..errors import InputError, input_error
    from .common import Imported, _slug, _unique, load_json

    path = Path(path)
    data = load_json(path)
    if not isinstance(data, list) or not data:
        raise input_error(str(path), 'expected a list: [{"query": "...", "should_trigger": true}, ...]', 1)
    problems, rows, ids, seen = [], [], set(), set()
    unconverted: list[str] = []
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
        given = item.get("id") if isinstance(item.get("id"), str) and item["id"].strip() else None
        row = {"id": _unique(ids, _slug(given or item["query"], f"q{index + 1}")), "query": item["query"],
               "should_trigger": item["should_trigger"]}
        if item.get("split") is not None and item.get("split") not in ("train", "holdout"):
            problems.append(Problem(str(path), f"must be 'train' or 'holdout', got {item['split']!r}", None,
                                    f"[{index}].split"))
        elif item.get("split") is not None:
            row["split"] = item["split"]  # the author's choice stands
        line = data.line_of(index) if hasattr(data, "line_of") else None
        unconverted.extend(_dropped_trigger_keys(item, index, f"{path}:{line}" if line else str(path)))
        rows.append(row)
    if problems:
        raise InputError(problems)
    for should in (True, False):
        split = stratified_split([r["id"] for r in rows if r["should_trigger"] is should and "split" not in r])
        for row in rows:
            if row["id"] in split:
                row["split"] = split[row["id"]]
    from ..decide.sequential import trigger_runs

    train = [r for r in rows if r.get("split") != "holdout"]
    runs = trigger_runs(len(train), sum(r["should_trigger"] for r in train))
    return Imported({"skill": skill or "SKILL.md", "model": "claude-code", "runs": runs, "triggers": rows},
                    unconverted)


def _dropped_trigger_keys(item: dict, index: int, where: str) -> list[str]:
    """A trigger item's keys the suite does not carry, as "not converted" lines."""
    extra = [key for key in item if key not in ("id", "query", "should_trigger", "split")]
    return [f"{where}: [{index}].{key} not converted" for key in extra]
