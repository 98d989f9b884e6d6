"""Human and machine views of results: the per-eval table and the stable JSON schema."""

from __future__ import annotations

import hashlib
from typing import Any

from .runner import EvalResult
from .stats import Rate
from .suite import Suite

EVAL_SCHEMA = "autoresearch.eval/1"


def _row(name: str, kind: str, rate: Rate, width: int) -> str:
    lo, hi = rate.interval
    errors = f"  {rate.errors} error{'s' if rate.errors != 1 else ''}" if rate.errors else ""
    return f"  {name:<{width}}  {kind:<16} {rate.value:6.1%}  [{lo:4.0%} – {hi:4.0%}]  {rate.passed:>5}/{rate.n:<5}{errors}"


def eval_table(suite: Suite, result: EvalResult) -> str:
    """The per-eval table, then the rate per split and overall, each with its Wilson 95% interval."""
    width = max([len(e.id) for e in suite.evals] + [len("overall")])
    lines = [f"  {'eval':<{width}}  {'check':<16} {'pass':>6}  {'95% interval':<15}  {'passed/n'}"]
    per_eval = result.by("eval_id")
    for ev in suite.evals:
        lines.append(_row(ev.id, ev.kind, per_eval.get(ev.id, Rate(0, 0)), width))
    lines.append("")
    for split in ("train", "holdout"):
        if any(s == split for s in result.splits.values()):
            lines.append(_row(split, "", result.rate(split=split), width))
    lines.append(_row("overall", "", result.rate(), width))
    return "\n".join(lines)


def failing_thresholds(suite: Suite, result: EvalResult, threshold: float | None) -> list[str]:
    """Which thresholds (overall, then per eval) the result falls below, in words."""
    misses = []
    overall = result.rate()
    if threshold is not None and overall.value < threshold:
        misses.append(f"overall pass rate {overall.value:.1%} is below the threshold {threshold:.1%}")
    per_eval = result.by("eval_id")
    for ev in suite.evals:
        if ev.threshold is not None and ev.id in per_eval and per_eval[ev.id].value < ev.threshold:
            misses.append(f"eval '{ev.id}' pass rate {per_eval[ev.id].value:.1%} is below its threshold {ev.threshold:.1%}")
    return misses


def result_json(suite: Suite, result: EvalResult, skill_text: str) -> dict[str, Any]:
    """The documented, stable JSON form of one evaluation (schema `autoresearch.eval/1`)."""
    splits = sorted(set(result.splits.values()))
    return {
        "schema": EVAL_SCHEMA,
        "suite": suite.name,
        "suite_path": str(suite.path),
        "skill_path": str(suite.skill_path),
        "skill_sha256": hashlib.sha256(skill_text.encode()).hexdigest(),
        "model": suite.model.name,
        "runs": sorted({c.run for c in result.cells}),
        "overall": result.rate().to_dict(),
        "splits": {s: result.rate(split=s).to_dict() for s in splits},
        "evals": {k: v.to_dict() for k, v in result.by("eval_id").items()},
        "inputs": {k: {"split": result.splits[k], **v.to_dict()} for k, v in result.by("input_id").items()},
        "cells": [{"input": c.input_id, "eval": c.eval_id, "run": c.run, "status": c.status, "reason": c.reason}
                  for c in result.cells],
        "spend": {"calls": result.spend.calls, "input_tokens": result.spend.usage.input_tokens,
                  "output_tokens": result.spend.usage.output_tokens,
                  "cache_read_input_tokens": result.spend.usage.cache_read_input_tokens,
                  "cache_creation_input_tokens": result.spend.usage.cache_creation_input_tokens,
                  "cost_usd": round(result.spend.cost, 6)},
        "seconds": round(result.seconds, 3),
    }
