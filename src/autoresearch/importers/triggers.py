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
    from ..decide.sequential import trigger_runs

    train = [r for r in rows if r.get("split") != "holdout"]
    runs = trigger_runs(len(train), sum(r["should_trigger"] for r in train))
    return Imported({"skill": skill or "SKILL.md", "model": "claude-code", "runs": runs, "triggers": rows})
