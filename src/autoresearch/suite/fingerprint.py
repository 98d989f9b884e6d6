"""A suite's fingerprint: what a run's decisions rest on (inputs, their split, evals and checks, runs).

Saved in run.json when a run starts; `run --resume`, `next` and `try` refuse a suite whose fingerprint
changed since, naming what changed: scores measured on two different suites cannot be compared.
Models, budgets and check time limits may change on resume, so they are left out.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..errors import AutoresearchError


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()[:16]


def _input_digest(item: Any) -> str:
    """An input's text and its fixture files' contents (a fixture edited in place changes what is measured)."""
    files = []
    for rel, path in item.fixture_paths():
        try:
            files.append([rel, hashlib.sha256(path.read_bytes()).hexdigest()])
        except OSError:
            files.append([rel, None])
    return _digest([item.text, files])


def _check_code(suite: Any, check: Any) -> str | None:
    """The source of a python check's file: editing the check changes what it measures."""
    if check is None or check.type != "python" or not isinstance(check.value, str):
        return None
    try:
        return hashlib.sha256((suite.path.parent / check.value.partition(":")[0]).read_bytes()).hexdigest()
    except OSError:
        return None


def _eval_digest(suite: Any, ev: Any) -> str:
    check = ev.check
    definition = {"question": ev.question, "threshold": ev.threshold, "inputs": list(ev.inputs),
                  "check": None if check is None else [check.type, check.value, check.negate, check.min, check.max,
                                                       check.path, check.pattern, _check_code(suite, check)],
                  "judge": None if ev.judge is None else [ev.judge.pass_condition, ev.judge.fail_condition,
                                                          ev.judge.sees]}
    return _digest(definition)


def suite_fingerprint(suite: Any) -> dict:
    """The parts of `suite` a run's decisions rest on, each hashed, and one digest over them all."""
    parts = {"inputs": {i.id: _input_digest(i) for i in suite.inputs},
             "split": {i.id: i.split for i in suite.inputs},
             "evals": {e.id: _eval_digest(suite, e) for e in suite.evals},
             "runs": suite.runs, "holdout_runs": suite.holdout_run_count}
    return {"digest": _digest(parts), **parts}


def fingerprint_changes(saved: dict, now: dict) -> list[str]:
    """What differs between a saved fingerprint and the suite's now, in words (empty: the same suite)."""
    if saved.get("digest") == now.get("digest"):
        return []
    changes = []
    for part, noun in (("inputs", "input"), ("evals", "eval")):
        old, new = saved.get(part, {}), now.get(part, {})
        changes += [f"{noun} {k!r} removed" for k in old if k not in new]
        changes += [f"{noun} {k!r} added" for k in new if k not in old]
        changes += [f"{noun} {k!r} changed" + (" (its check or judge)" if part == "evals" else " (its text or files)")
                    for k in old if k in new and old[k] != new[k]]
    old_split, new_split = saved.get("split", {}), now.get("split", {})
    changes += [f"input {k!r} moved from {old_split[k]} to {new_split[k]}" for k in old_split
                if k in new_split and old_split[k] != new_split[k]]
    for key, name in (("runs", "runs"), ("holdout_runs", "holdout_runs")):
        if saved.get(key) != now.get(key):
            changes.append(f"{name} {saved.get(key)} -> {now.get(key)}")
    return changes or ["its contents"]


def refuse_changed_suite(run_id: str, suite: Any, saved: dict | None) -> None:
    """Raise when the suite differs from the one the run started on (a run saved before fingerprints passes)."""
    if not saved:
        return
    changes = fingerprint_changes(saved, suite_fingerprint(suite))
    if changes:
        raise AutoresearchError(
            f"the suite {suite.path} changed since run {run_id} started: {'; '.join(changes)}. A run compares "
            f"versions on one fixed suite, so nothing was run or written. To measure on the edited suite, start "
            f"a new run: autoresearch run {suite.path}; to go on with this run, put the suite back as it was")


def short(fingerprint: dict | None) -> str:
    """The fingerprint as people quote it: its first 12 hex digits."""
    return str((fingerprint or {}).get("digest", ""))[:12]
