"""Human and machine views of results: the per-eval table and the stable JSON schema."""

from __future__ import annotations

import hashlib
from collections import Counter
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


def _pct(rate: dict | None) -> str:
    return f"{rate['rate']:.1%}" if rate else "–"


def render_changelog(entries: list[dict], name: str) -> str:
    """The human log of a run: every attempt, kept or not, with its hypothesis, scores, reason and diff."""
    keeps = sum(e["decision"] == "keep" for e in entries)
    lines = [f"# Changelog of the autoresearch run on {name}", "",
             f"{len(entries) - 1} experiments after the baseline, {keeps} kept. Every attempt is listed, kept or not.", ""]
    for e in entries:
        if e["decision"] == "baseline":
            lines += ["## #0 baseline", "", f"- train: {_pct(e['scores']['train'])}, holdout: "
                      f"{_pct(e['scores'].get('holdout'))}", ""]
            continue
        lines += [f"## #{e['id']} {e['decision']}: `{e['section']}`", ""]
        if e["hypothesis"]:
            lines.append(f"- hypothesis ({e['kind']}): {e['hypothesis']}")
        if e["decision"] != "refused":
            lines.append(f"- train: {_pct(e['best_scores']['train'])} -> {_pct(e['scores']['train'])} "
                         f"({e['wins']} wins, {e['losses']} losses on paired checks, p = {e['p_value']:.4g},"
                         f" runs {len(e['runs'])}{', raced out' if e['raced'] else ''})")
            if e["decision"] == "keep":
                lines.append(f"- holdout: {_pct(e['best_scores'].get('holdout'))} -> {_pct(e['scores'].get('holdout'))}")
        lines.append(f"- decision: **{e['decision']}**: {e['reason']}")
        if e["motivation"]:
            lines.append("- motivated by failures: " + "; ".join(e["motivation"]))
        lines.append(f"- spent: {e['calls']} model calls, ${e['cost']:.4f}, {e['seconds']:.1f}s")
        if e["diff"]:
            lines += ["", "```diff", e["diff"].rstrip("\n"), "```"]
        lines.append("")
    return "\n".join(lines)


def status_text(run_id: str, entries: list[dict], config: dict) -> str:
    """Best score, experiments, keeps and discards, spend, train beside holdout."""
    if not entries:
        return f"run {run_id}: no experiments yet"
    decisions = Counter(e["decision"] for e in entries[1:])
    base = entries[0]
    best = next(e for e in reversed(entries) if e["decision"] in ("baseline", "keep"))
    calls = sum(e["calls"] for e in entries)
    tokens = sum(sum(e["tokens"].values()) for e in entries)
    cost = sum(e["cost"] for e in entries)
    seconds = sum(e["seconds"] for e in entries)
    budget = config.get("config", {}).get("budget", {})
    limits = ", ".join(f"{k} {v}" for k, v in budget.items() if v is not None) or "none"
    return "\n".join([
        f"run {run_id}",
        f"  experiments: {len(entries) - 1} ({decisions['keep']} kept, {decisions['discard']} discarded, "
        f"{decisions['refused']} refused)",
        f"  train:   baseline {_pct(base['scores']['train'])} -> best {_pct(best['scores']['train'])} (#{best['id']})",
        f"  holdout: baseline {_pct(base['scores'].get('holdout'))} -> best {_pct(best['scores'].get('holdout'))}",
        f"  spent: {calls} model calls, {tokens} tokens, ${cost:.4f}, {seconds:.1f}s (budget: {limits})",
        f"  last: #{entries[-1]['id']} {entries[-1]['decision']}: {entries[-1]['reason']}",
    ])


def section_diff(before: str, after: str, path: str = "SKILL.md") -> list[tuple[str, str]]:
    """(section id, unified diff) for every section that differs between two versions of a skill."""
    from .skill import parse_skill

    old, new = parse_skill(before, path), parse_skill(after, path)
    out = []
    if old.frontmatter_raw != new.frontmatter_raw:
        out.append(("frontmatter", _unified(old.frontmatter_raw, new.frontmatter_raw, "frontmatter")))
    new_sections = {s.id: s for s in new.sections}
    for s in old.sections:
        other = new_sections.get(s.id)
        if other is None or other.text != s.text:
            out.append((s.id, _unified(s.text, other.text if other else "", s.id)))
    for s in new.sections:
        if s.id not in {o.id for o in old.sections}:
            out.append((s.id, _unified("", s.text, s.id)))
    return out


def _unified(before: str, after: str, name: str) -> str:
    import difflib

    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        f"baseline/{name}", f"best/{name}"))
