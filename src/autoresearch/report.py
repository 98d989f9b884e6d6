"""Human and machine views of results: the per-eval table and the stable JSON schema."""

from __future__ import annotations

import hashlib
import html
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .journal import best_entry
from .runner import EvalResult
from .stats import Rate, sign_test
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


def failing_thresholds(suite: Suite, result: EvalResult, threshold: float | None,
                       eval_thresholds: dict[str, float] | None = None) -> list[str]:
    """Which thresholds (overall, then per eval: the command line's over the suite's) are missed, in words."""
    misses = []
    overall = result.rate()
    if threshold is not None and overall.value < threshold:
        misses.append(f"overall pass rate {overall.value:.1%} is below the threshold {threshold:.1%}")
    per_eval = result.by("eval_id")
    for ev in suite.evals:
        limit = (eval_thresholds or {}).get(ev.id, ev.threshold)
        if limit is not None and ev.id in per_eval and per_eval[ev.id].value < limit:
            misses.append(f"eval '{ev.id}' pass rate {per_eval[ev.id].value:.1%} is below its threshold {limit:.1%}")
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
        "outcomes": [{"input": key[0], "run": key[1], **result.traces.get(key, {"text": text})}
                     for key, text in sorted(result.outputs.items(), key=lambda kv: (kv[0][1], kv[0][0]))],
        "spend": {"calls": result.spend.calls, "input_tokens": result.spend.usage.input_tokens,
                  "output_tokens": result.spend.usage.output_tokens,
                  "cache_read_input_tokens": result.spend.usage.cache_read_input_tokens,
                  "cache_creation_input_tokens": result.spend.usage.cache_creation_input_tokens,
                  "cost_usd": round(result.spend.cost, 6)},
        "seconds": round(result.seconds, 3),
    }


def p_text(value: float) -> str:
    """A p-value for people: `< 0.0001` or `= 0.0123`."""
    return "< 0.0001" if value < 0.0001 else f"= {value:.4f}"


def _pct(rate: dict | None) -> str:
    return f"{rate['rate']:.1%}" if rate else "–"


def rate_ci(rate: dict | None) -> str:
    """A rate with its 95% interval and count, as every holdout rate is printed: `43.8% [31–57%] (14/32)`."""
    if not rate:
        return "–"
    n = rate["passed"] + rate["failed"]
    return f"{rate['rate']:.1%} [{rate['low']:.0%}–{rate['high']:.0%}] ({rate['passed']}/{n})"


def render_changelog(entries: list[dict], name: str) -> str:
    """The human log of a run: every attempt, kept or not, with its hypothesis, scores, reason and diff."""
    keeps = sum(e["decision"] == "keep" for e in entries)
    lines = [f"# Changelog of the autoresearch run on {name}", "",
             f"{counted(len(entries) - 1, 'experiment')} after the baseline, {keeps} kept. Every attempt is listed, kept or not.", ""]
    for e in entries:
        if e["decision"] == "baseline":
            lines += ["## #0 baseline", "", f"- train: {_pct(e['scores']['train'])}, holdout: "
                      f"{rate_ci(e['scores'].get('holdout'))}", ""]
            continue
        near = " (near miss)" if e.get("near_miss") else ""
        lines += [f"## #{e['id']} {e['decision']}{near}: `{e['section']}`", ""]
        if e["hypothesis"]:
            lines.append(f"- hypothesis ({e['kind']}): {e['hypothesis']}")
        if e["decision"] in ("keep", "discard"):
            lines.append(f"- train: {_pct(e['best_scores']['train'])} -> {_pct(e['scores']['train'])} "
                         f"({e['wins']} wins, {e['losses']} losses on paired checks, p {p_text(e['p_value'])},"
                         f" runs {len(e['runs'])}{', raced out' if e['raced'] else ''})")
            if e["decision"] == "keep":
                lines.append(f"- holdout: {rate_ci(e['best_scores'].get('holdout'))} -> "
                             f"{rate_ci(e['scores'].get('holdout'))}")
        lines.append(f"- decision: **{e['decision']}**: {e['reason']}")
        if near:
            lines.append("- near miss: it gained, with p just above the level; a variant may be worth trying")
        if e["motivation"]:
            lines.append("- motivated by failures: " + "; ".join(e["motivation"]))
        lines.append(f"- spent: {e['calls']} model calls, ${e['cost']:.4f}, {e['seconds']:.1f}s")
        if e["diff"]:
            lines += ["", "```diff", e["diff"].rstrip("\n"), "```"]
        lines.append("")
    return "\n".join(lines)


def _cached_note(entries: list[dict]) -> str:
    cached = sum(e.get("cached", 0) for e in entries)
    return f" (and {cached} answers from the cache, free)" if cached else ""


def counted(n: float, noun: str, plural: str | None = None) -> str:
    """`1 section`, `2 sections`: a number with its noun in the right form."""
    return f"{n:g} {noun if n == 1 else plural or noun + 's'}"


def status_text(run_id: str, entries: list[dict], config: dict) -> str:
    """Best score, experiments, keeps and discards, spend, train beside holdout."""
    if not entries:
        return f"run {run_id}: no experiments yet"
    decisions = Counter(e["decision"] for e in entries[1:])
    base = entries[0]
    best = best_entry(entries)
    calls = sum(e["calls"] for e in entries)
    tokens = sum(sum(e["tokens"].values()) for e in entries)
    cost = sum(e["cost"] for e in entries)
    seconds = sum(e["seconds"] for e in entries)
    budget = config.get("config", {}).get("budget", {})
    limits = ", ".join(f"{k} {v}" for k, v in budget.items() if v is not None) or "none"
    return "\n".join([
        f"run {run_id}",
        f"  experiments: {len(entries) - 1} ({decisions['keep']} kept, {decisions['discard']} discarded, "
        f"{decisions['refused']} refused" + (f", {decisions['error']} failed" if decisions["error"] else "") + ")",
        f"  train:   baseline {_pct(base['scores']['train'])} -> best {_pct(best['scores']['train'])} (#{best['id']})",
        f"  holdout: baseline {rate_ci(base['scores'].get('holdout'))} -> best {rate_ci(best['scores'].get('holdout'))}",
        f"  spent: {calls} model calls made{_cached_note(entries)}, {tokens} tokens, ${cost:.4f}, {seconds:.1f}s (budget: {limits})",
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


# -- CI: JUnit and comparison with an earlier result ------------------------------------------------

def junit_xml(suite: Suite, result: EvalResult) -> str:
    """One testcase per input x eval: failed when any run failed (reasons listed), error on any error."""
    import xml.etree.ElementTree as ET

    groups: dict[tuple[str, str], list] = {}
    for c in result.cells:
        groups.setdefault((c.input_id, c.eval_id), []).append(c)
    failures = sum(any(c.status == "fail" for c in cells) and not any(c.status == "error" for c in cells)
                   for cells in groups.values())
    errors = sum(any(c.status == "error" for c in cells) for cells in groups.values())
    root = ET.Element("testsuites", name="autoresearch", tests=str(len(groups)), failures=str(failures),
                      errors=str(errors), time=f"{result.seconds:.3f}")
    node = ET.SubElement(root, "testsuite", name=suite.name, tests=str(len(groups)), failures=str(failures),
                         errors=str(errors), time=f"{result.seconds:.3f}")
    for (input_id, eval_id), cells in groups.items():
        case = ET.SubElement(node, "testcase", classname=f"{suite.name}.{input_id}", name=eval_id, time="0")
        passed = sum(c.status == "pass" for c in cells)
        bad = [c for c in cells if c.status == "error"] or [c for c in cells if c.status == "fail"]
        if bad:
            kind = "error" if bad[0].status == "error" else "failure"
            element = ET.SubElement(case, kind, type=bad[0].status,
                                    message=f"{eval_id} on {input_id}: {passed}/{len(cells)} runs passed")
            element.text = "\n".join(f"run {c.run}: {c.reason}" for c in bad)
        ET.SubElement(case, "system-out").text = f"pass rate {passed}/{len(cells)}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


@dataclass(frozen=True)
class Comparison:
    wins: int
    losses: int
    p_value: float  # one-sided: the chance of this many losses if nothing got worse
    regression: bool
    before: float
    after: float
    per_eval: dict[str, tuple[float, float]]

    def __str__(self) -> str:
        verdict = "REGRESSION beyond noise" if self.regression else "no regression beyond noise"
        lines = [f"compared with the baseline on {self.wins + self.losses} changed checks: {self.before:.1%} -> "
                 f"{self.after:.1%}, {self.wins} better, {self.losses} worse, p = {self.p_value:.4f}: {verdict}"]
        lines += [f"  {k:<24} {a:6.1%} -> {b:6.1%}" for k, (a, b) in sorted(self.per_eval.items())]
        return "\n".join(lines)


def compare_results(current: dict[str, Any], baseline: dict[str, Any], alpha: float = 0.05) -> Comparison:
    """Pair two eval JSON results cell by cell and test for a regression with the loop's sign test."""
    from .stats import pair

    def cells(data: dict[str, Any]) -> dict:
        return {(c["input"], c["eval"], c["run"]): c["status"] == "pass" for c in data["cells"] if c["status"] != "error"}

    mine, theirs = cells(current), cells(baseline)
    paired = pair(mine, theirs)
    per_eval = {}
    for eval_id in sorted({k[1] for k in mine} & {k[1] for k in theirs}):
        common = [k for k in mine if k[1] == eval_id and k in theirs]
        if common:
            per_eval[eval_id] = (sum(theirs[k] for k in common) / len(common), sum(mine[k] for k in common) / len(common))
    p = sign_test(paired.losses, paired.wins)
    return Comparison(paired.wins, paired.losses, p, p < alpha, paired.best_rate, paired.candidate_rate, per_eval)


# -- diffs for review ------------------------------------------------------------------------------

def render_diff(changes: list[tuple[str, str]], fmt: str = "unified", title: str = "baseline -> best") -> str:
    """Section diffs as plain unified text, Markdown for a PR comment, or a standalone HTML page."""
    if fmt == "unified":
        return "".join(f"=== {section} ===\n{text}" for section, text in changes) or "no change\n"
    if fmt == "markdown":
        if not changes:
            return f"**{title}**: no change\n"
        parts = [f"### autoresearch: {title}, {len(changes)} section(s) changed\n"]
        for section, text in changes:
            parts.append(f"#### `{section}`\n\n```diff\n{text.rstrip()}\n```\n")
        return "\n".join(parts)
    body = "".join(f"<h3><code>{html.escape(section)}</code></h3>\n<pre class='diff'>{_diff_html(text)}</pre>\n"
                   for section, text in changes) or "<p>No change.</p>"
    return _page(f"autoresearch diff: {title}", f"<h1>{html.escape(title)}</h1>\n{body}")


def _diff_html(text: str) -> str:
    out = []
    for line in text.splitlines():
        cls = "add" if line.startswith("+") and not line.startswith("+++") else \
            "del" if line.startswith("-") and not line.startswith("---") else "ctx"
        out.append(f"<span class='{cls}'>{html.escape(line)}</span>")
    return "\n".join(out)


_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1d1d1f;padding:0 1em}
h1{font-size:1.5em}h2{margin-top:2em;border-bottom:1px solid #ddd}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #eee;padding:.35em .5em;text-align:left;vertical-align:top}
pre.diff{background:#f7f7f7;padding:.6em;overflow:auto}.add{color:#116329;background:#dafbe1}
.del{color:#82071e;background:#ffebe9}.ctx{color:#555}.keep{color:#116329;font-weight:600}
.discard{color:#82071e}.refused{color:#777}.bar{background:#e5e5e5;height:.7em;width:10em;display:inline-block}
.bar span{background:#2f7bf6;height:100%;display:block}svg text{font:11px system-ui,sans-serif}
.stats span{margin-right:2em}"""


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>\n{body}\n</body></html>\n")


# -- the HTML report of a run --------------------------------------------------------------------

def _chart(entries: list[dict]) -> str:
    """Inline SVG: each attempt's train score (keep, discard, refused), best-train and holdout lines."""
    width, height, left, top, bottom = 900, 300, 45, 15, 30
    n = max(1, entries[-1]["id"])
    x = lambda i: left + (width - left - 15) * i / n
    y = lambda r: top + (height - top - bottom) * (1 - r)
    parts = [f"<svg id='score-chart' xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' role='img' aria-label='pass rate over experiments'>"]
    for tick in range(0, 101, 25):
        parts.append(f"<line x1='{left}' x2='{width - 15}' y1='{y(tick / 100):.1f}' y2='{y(tick / 100):.1f}' "
                     f"stroke='#eee'/><text x='{left - 8}' y='{y(tick / 100) + 4:.1f}' text-anchor='end'>{tick}%</text>")
    for e in entries[:: max(1, len(entries) // 15)]:
        parts.append(f"<text x='{x(e['id']):.1f}' y='{height - 10}' text-anchor='middle'>#{e['id']}</text>")
    best, holdout, best_rate, holdout_rate = [], [], None, None
    for e in entries:
        if e["decision"] in ("baseline", "keep"):
            best_rate = e["scores"]["train"]["rate"]
            holdout_rate = (e["scores"].get("holdout") or {}).get("rate", holdout_rate)
        best.append(f"{x(e['id']):.1f},{y(best_rate):.1f}")
        if holdout_rate is not None:
            holdout.append(f"{x(e['id']):.1f},{y(holdout_rate):.1f}")
    parts.append(f"<polyline class='train-line' points='{' '.join(best)}' fill='none' stroke='#2f7bf6' stroke-width='2'/>")
    if holdout:
        parts.append(f"<polyline class='holdout-line' points='{' '.join(holdout)}' fill='none' stroke='#d97706' "
                     f"stroke-width='2' stroke-dasharray='6 4'/>")
    for e in entries:
        rate = (e["scores"].get("train") or {}).get("rate")
        if e["decision"] == "refused" or rate is None:
            parts.append(f"<text class='mark refused' x='{x(e['id']):.1f}' y='{height - bottom - 4}' "
                         f"text-anchor='middle' fill='#999'>×</text>")
            continue
        color = {"keep": "#16a34a", "baseline": "#2f7bf6", "discard": "#dc2626"}[e["decision"]]
        fill = color if e["decision"] != "discard" else "white"
        parts.append(f"<circle class='mark {e['decision']}' cx='{x(e['id']):.1f}' cy='{y(rate):.1f}' r='4.5' "
                     f"fill='{fill}' stroke='{color}' stroke-width='2'><title>#{e['id']} {e['decision']}: "
                     f"{rate:.1%}</title></circle>")
    legend = [("#2f7bf6", "best, train"), ("#d97706", "best, holdout"), ("#16a34a", "keep"), ("#dc2626", "discard")]
    for i, (color, label) in enumerate(legend):
        parts.append(f"<rect x='{left + 10 + i * 120}' y='{top}' width='10' height='10' fill='{color}'/>"
                     f"<text x='{left + 24 + i * 120}' y='{top + 9}'>{label}</text>")
    parts.append("</svg>")
    return "".join(parts)


def html_report(run_id: str, entries: list[dict], config: dict) -> str:
    """A single static HTML file: chart, per-eval breakdown, and every attempt with its diff."""
    if not entries:
        return _page(f"autoresearch run {run_id}", f"<h1>Run {html.escape(run_id)}</h1><p>No experiments yet.</p>")
    esc = html.escape
    base, best = entries[0], best_entry(entries)
    counts = Counter(e["decision"] for e in entries[1:])
    stats = (f"<p class='stats'><span>train {_pct(base['scores']['train'])} → <b>{_pct(best['scores']['train'])}</b></span>"
             f"<span>holdout {rate_ci(base['scores'].get('holdout'))} → <b>{rate_ci(best['scores'].get('holdout'))}</b></span>"
             f"<span>{len(entries) - 1} experiments: {counts['keep']} kept, {counts['discard']} discarded, "
             f"{counts['refused']} refused</span><span>{sum(e['calls'] for e in entries)} calls, "
             f"${sum(e['cost'] for e in entries):.4f}</span></p>")
    eval_rows = []
    for eval_id in base.get("per_eval", {}):
        before, after = base["per_eval"][eval_id], best.get("per_eval", {}).get(eval_id, base["per_eval"][eval_id])
        eval_rows.append(f"<tr class='eval-row'><td>{esc(eval_id)}</td><td>{before:.1%}</td><td>{after:.1%}</td>"
                         f"<td><span class='bar'><span style='width:{after * 100:.0f}%'></span></span></td></tr>")
    attempt_rows = []
    for e in entries[1:]:
        scores = "" if e["decision"] in ("refused", "error") else \
            f"{_pct(e['best_scores']['train'])} → {_pct(e['scores']['train'])} (p {p_text(e['p_value'])})"
        diff = f"<details><summary>diff</summary><pre class='diff'>{_diff_html(e['diff'])}</pre></details>" if e["diff"] else ""
        attempt_rows.append(
            f"<tr class='attempt-row'><td>#{e['id']}</td><td><code>{esc(e['section'] or '')}</code></td>"
            f"<td>{esc(e['kind'] or '')}</td><td class='{e['decision']}'>{e['decision']}</td><td>{scores}</td>"
            f"<td>{esc(e['hypothesis'])}<br><small>{esc(e['reason'])}</small>{diff}</td></tr>")
    body = (f"<h1>autoresearch run {esc(run_id)}</h1>\n<p>{esc(config.get('suite', ''))}</p>\n{stats}\n"
            f"<h2>Pass rate over experiments</h2>\n{_chart(entries)}\n<p><small>Lines: the best version's train "
            "and holdout pass rates. Dots: each candidate's train score on the runs it was evaluated on; racing "
            "stops hopeless candidates after a few runs, so a discarded dot can sit above the line on little "
            "evidence. ×: a refused proposal.</small></p>\n"
            "<h2>Per eval, train: baseline and best</h2>\n<table id='evals'><tr><th>eval</th><th>baseline</th>"
            f"<th>best</th><th></th></tr>{''.join(eval_rows)}</table>\n"
            "<h2>Every attempt</h2>\n<table id='attempts'><tr><th>#</th><th>section</th><th>kind</th><th>decision</th>"
            f"<th>train (same runs)</th><th>hypothesis, reason and diff</th></tr>{''.join(attempt_rows)}</table>")
    return _page(f"autoresearch run {run_id}", body)
